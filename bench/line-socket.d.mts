// Types for line-socket.mjs.
import type {Socket} from 'node:net'

export declare function onLines(socket: Socket, onLine: (line: string) => void): void
export declare function lineWriter(socket: Socket): (line: string) => void
