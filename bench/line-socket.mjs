// The raw-TCP baseline's framing: NDJSON lines on a node:net socket, written corked until the end of the
// current tick so that pipelined messages share a syscall (what any careful raw implementation does).
// Plain JavaScript (types in line-socket.d.mts), so that the baseline runs untransformed on both sides.

/** Calls onLine(line) for every complete line received. */
export function onLines(socket, onLine) {
  let pending = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk) => {
    let from = 0
    let newline = chunk.indexOf('\n')
    if (newline === -1) {
      pending += chunk
      return
    }

    onLine(pending + chunk.slice(0, newline))
    from = newline + 1
    while ((newline = chunk.indexOf('\n', from)) !== -1) {
      onLine(chunk.slice(from, newline))
      from = newline + 1
    }

    pending = chunk.slice(from)
  })
}

/** Returns write(line): the first write of a tick corks the socket, a nextTick uncorks it. */
export function lineWriter(socket) {
  let corked = false
  const uncork = () => {
    corked = false
    socket.uncork()
  }

  return (line) => {
    if (!corked) {
      corked = true
      socket.cork()
      process.nextTick(uncork)
    }

    socket.write(line + '\n')
  }
}
