// The tunnel library entry (`import {exposeNode, startTunnelGateway} from 'restwire/tunnel'`).
export {exposeNode, nodeIdFromHostKey, type ExposeNodeOptions, type TunnelNodeEvent, type TunnelNodeHandle} from './node.js'
export {
  startTunnelGateway,
  type TunnelGatewayEvent,
  type TunnelGatewayHandle,
  type TunnelGatewayOptions,
  type TunnelNodeInfo,
  type TunnelRequestOptions,
  type TunnelVerb,
} from './gateway.js'
export {DEFAULT_STREAM_STALL_MS, type TunnelStream} from './gateway-session.js'
export {startTunnelHttpApi, type TunnelHttpApiHandle, type TunnelHttpApiOptions} from './http-api.js'
export {
  callTunnelNode,
  listTunnelNodes,
  openTunnelStream,
  type TunnelApiNode,
  type TunnelApiOptions,
  type TunnelCallOptions,
  type TunnelCallResponse,
  type TunnelStreamError,
  type TunnelStreamOptions,
  type TunnelStreamResponse,
} from './api-client.js'
export {DEFAULT_GATEWAY_PORT} from './defaults.js'
export type {TunnelRequestMessage, TunnelResponseMessage} from './messages.js'
export type {Handler, RwRequest, RwResponse} from '../message/request.js'
export {Router} from '../message/router.js'
export {AuthorizedKeysFile} from '../ssh/authorized-keys.js'
export {loadPrivateKey, type LoadedPrivateKey} from '../ssh/private-key.js'
export {FrameCorruptError, PeerGoneError, RestwireError, StatusError, TimeoutError, isRestwireError, type ErrorCode} from '../errors.js'
