// The relay library entry, exported as `restwire/relay`: the client of a running relay (what `relay send` uses).
export {DEFAULT_RELAY_ADDRESS, type RelayAddress, formatRelayAddress, parseRelayAddress} from './address.js'
export {type RelayFinalReply, type RelaySendOptions, type RelaySendResult, sendRelayRequest} from './client.js'
export {RelayLineDecoder, type RelayLineDecoderOptions} from './line-decoder.js'
export type {RelayRequestLine} from './messages.js'
export {FrameCorruptError, PeerGoneError, RestwireError, StatusError, TimeoutError, isRestwireError, type ErrorCode} from '../errors.js'
