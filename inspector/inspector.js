// The restwire inspector page: peers, the live list of requests (server-sent events read through fetch,
// so that the bearer token travels in a header), one request in full, replay, and latency charts.
// Everything a peer sent is put on the page as text (textContent), never as HTML.
'use strict'
;(() => {
  const MAX_ROWS = 500
  const CHART_WINDOW_MS = 5 * 60 * 1000
  const TOKEN_KEY = 'restwire-inspect-token'
  const $ = (id) => document.getElementById(id)
  const records = new Map()
  let about = {name: 'restwire', protocol: '', tokenRequired: false}
  let selected
  let token = takeToken()

  /** The token from `#token=...` (then removed from the address bar), else this tab's stored one. */
  function takeToken() {
    const match = /(?:^#|&)token=([^&]+)/.exec(location.hash)
    if (match) {
      const value = decodeURIComponent(match[1])
      sessionStorage.setItem(TOKEN_KEY, value)
      history.replaceState(null, '', location.pathname + location.search)
      return value
    }
    return sessionStorage.getItem(TOKEN_KEY) || undefined
  }

  function headers(extra) {
    const h = {'x-restwire-inspect': '1', ...extra}
    if (token) h.authorization = 'Bearer ' + token
    return h
  }

  async function api(path, init = {}) {
    const response = await fetch(path, {...init, headers: headers(init.headers), cache: 'no-store'})
    if (response.status === 401) askToken()
    return response
  }

  function askToken() {
    const value = window.prompt('This inspector needs its token (--inspect-token):')
    if (value) {
      token = value.trim()
      sessionStorage.setItem(TOKEN_KEY, token)
    }
  }

  function el(tag, text, className) {
    const node = document.createElement(tag)
    if (text !== undefined) node.textContent = String(text)
    if (className) node.className = className
    return node
  }

  function statusClass(status) {
    return 's' + String(Math.floor(status / 100))
  }

  function size(bytes) {
    if (bytes < 1024) return bytes + ' B'
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + ' KiB'
    return (bytes / 1024 / 1024).toFixed(1) + ' MiB'
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString([], {hour12: false}) + '.' + String(ms % 1000).padStart(3, '0')
  }

  // ---- peers
  function showPeers(peers) {
    const body = $('peers').tBodies[0]
    body.replaceChildren()
    for (const peer of peers) {
      const row = el('tr')
      row.dataset.id = peer.id
      const since = peer.since ? new Date(peer.since).toLocaleTimeString([], {hour12: false}) : ''
      for (const cell of [peer.id + (peer.holder ? ' @' + peer.holder : ''), peer.fingerprint || '', peer.address || '', since, peer.inFlight ?? '']) row.append(el('td', cell))
      row.cells[1].title = peer.fingerprint || ''
      body.append(row)
    }
    $('peers-count').textContent = String(peers.length)
    $('peers-empty').hidden = peers.length > 0
  }

  // ---- the live list
  function matches(record, filter) {
    if (!filter) return true
    const text = [record.verb, record.path, record.peer || '', record.status, record.direction, record.error || ''].join(' ').toLowerCase()
    return filter.split(/\s+/).every((word) => text.includes(word))
  }

  function row(record) {
    const tr = el('tr')
    tr.dataset.id = String(record.id)
    tr.append(
      el('td', clock(record.at)),
      el('td', record.direction === 'in' ? '→ in' : '← out'),
      el('td', record.peer || ''),
      el('td', record.verb),
      el('td', record.path),
      el('td', record.status || record.error || '—', 'status ' + statusClass(record.status)),
      el('td', record.latencyMs.toFixed(1) + ' ms'),
      el('td', size(record.requestBytes) + ' / ' + size(record.responseBytes)),
    )
    tr.cells[4].title = record.path
    if (record.id === selected) tr.classList.add('selected')
    return tr
  }

  function addRecord(record) {
    records.set(record.id, record)
    if (records.size > MAX_ROWS) records.delete(records.keys().next().value)
  }

  function render() {
    const filter = $('filter').value.trim().toLowerCase()
    const body = $('records').tBodies[0]
    const rows = [...records.values()].reverse().filter((record) => matches(record, filter)).map(row)
    body.replaceChildren(...rows)
    $('records-count').textContent = String(rows.length)
    drawCharts()
  }

  let renderQueued = false
  function queueRender() {
    if (renderQueued) return
    renderQueued = true
    requestAnimationFrame(() => {
      renderQueued = false
      render()
    })
  }

  // ---- charts: latency per peer (tunnel, pipe) or per route (korv, relay), last five minutes
  function drawCharts() {
    const byPeer = about.protocol === 'tunnel' || about.protocol === 'pipe'
    $('chart-by').textContent = byPeer ? 'peer' : 'route'
    const now = Date.now()
    const groups = new Map()
    for (const record of records.values()) {
      if (now - record.at > CHART_WINDOW_MS) continue
      const key = byPeer ? record.peer || '(none)' : record.verb + ' ' + record.path
      if (!groups.has(key)) groups.set(key, [])
      groups.get(key).push(record)
    }
    const charts = $('charts')
    charts.replaceChildren()
    if (groups.size === 0) charts.append(el('p', 'no requests in the last 5 minutes', 'empty'))
    for (const [key, list] of [...groups].slice(0, 12)) charts.append(chart(key, list, now))
  }

  function chart(key, list, now) {
    const NS = 'http://www.w3.org/2000/svg'
    const W = 230
    const H = 70
    const max = Math.max(1, ...list.map((r) => r.latencyMs))
    // The x axis spans the records shown (at least 30 s), so that a fresh server's first points spread out.
    const span = Math.max(30_000, now - Math.min(...list.map((r) => r.at)))
    const x = (at) => ((at - (now - span)) / span) * (W - 6) + 3
    const y = (ms) => H - 4 - (ms / max) * (H - 16)
    const svg = document.createElementNS(NS, 'svg')
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`)
    const line = document.createElementNS(NS, 'polyline')
    line.setAttribute('points', list.map((r) => `${x(r.at).toFixed(1)},${y(r.latencyMs).toFixed(1)}`).join(' '))
    svg.append(line)
    for (const r of list.slice(-60)) {
      const dot = document.createElementNS(NS, 'circle')
      dot.setAttribute('cx', x(r.at).toFixed(1))
      dot.setAttribute('cy', y(r.latencyMs).toFixed(1))
      dot.setAttribute('r', '2')
      svg.append(dot)
    }
    const label = document.createElementNS(NS, 'text')
    label.setAttribute('x', '4')
    label.setAttribute('y', '10')
    label.textContent = `max ${max.toFixed(1)} ms`
    svg.append(label)
    const box = el('div', undefined, 'chart')
    const sorted = list.map((r) => r.latencyMs).sort((a, b) => a - b)
    const median = sorted[Math.floor(sorted.length / 2)]
    box.append(el('div', `${key} · ${list.length} · median ${median.toFixed(1)} ms`, 'label'), svg)
    box.title = key
    return box
  }

  // ---- one request in full, and replay
  function bodyText(view) {
    if (!view || view.kind === 'none') return view && view.bytes > 0 ? `(${size(view.bytes)}, not kept)` : '(no body)'
    const cut = view.truncated ? `\n… (truncated; ${size(view.bytes)} in all)` : ''
    if (view.kind === 'binary') return `binary, ${size(view.bytes)}\n${view.hex}${cut}`
    return view.text + cut
  }

  async function open(id) {
    selected = id
    for (const tr of $('records').tBodies[0].rows) tr.classList.toggle('selected', tr.dataset.id === String(id))
    const response = await api(`/inspect/api/records/${id}`)
    if (!response.ok) return
    const record = await response.json()
    $('detail').hidden = false
    $('detail-id').textContent = `#${record.id}`
    const {request, response: answer, ...envelope} = record
    envelope.time = new Date(record.at).toISOString()
    if (request.headers) envelope.requestHeaders = request.headers
    if (answer.headers) envelope.responseHeaders = answer.headers
    $('envelope').textContent = JSON.stringify(envelope, null, 2)
    $('request-body').textContent = bodyText(request)
    $('response-body').textContent = bodyText(answer)
    const editable = (request.kind === 'json' || request.kind === 'text') && !request.truncated
    $('replay-body').value = editable ? request.text : ''
    $('replay-body').disabled = !editable && request.kind !== 'none'
    $('replay-hint').textContent = editable
      ? 'Edit the body and send it again through the same path a real call takes.'
      : request.kind === 'none'
        ? (request.bytes > 0 ? 'The log did not keep this body: type one to replay it.' : 'No body: Replay sends the request again as it was; type one to add it.')
        : 'This body is binary or cut short: Replay sends it as recorded (refused when the log kept only part of it).'
    $('replay-body').dataset.original = $('replay-body').value
    $('replay-compare').hidden = true
    $('replay-state').textContent = ''
    $('old-status').textContent = String(record.status || record.error || '')
    $('old-status').className = 'status ' + statusClass(record.status)
    $('old-response').textContent = bodyText(answer)
  }

  async function replay() {
    if (selected === undefined) return
    const area = $('replay-body')
    const edited = !area.disabled && area.value !== area.dataset.original
    $('replay').disabled = true
    $('replay-state').textContent = 'sending…'
    try {
      const response = await api(`/inspect/api/records/${selected}/replay`, {
        body: JSON.stringify(edited ? {body: area.value} : {}),
        headers: {'content-type': 'application/json'},
        method: 'POST',
      })
      const result = await response.json()
      if (!response.ok) {
        $('replay-state').textContent = result.error || `HTTP ${response.status}`
        return
      }
      $('replay-state').textContent = `${result.latencyMs.toFixed(1)} ms${edited ? ', edited body' : ''}`
      $('new-status').textContent = String(result.status || result.error || '')
      $('new-status').className = 'status ' + statusClass(result.status)
      $('new-response').textContent = bodyText(result.response)
      $('replay-compare').hidden = false
    } catch (error) {
      $('replay-state').textContent = String(error)
    } finally {
      $('replay').disabled = false
    }
  }

  // ---- the event stream, read with fetch so that it can carry the token
  function setConnected(on, text) {
    const conn = $('conn')
    conn.textContent = text
    conn.className = 'conn ' + (on ? 'on' : 'off')
  }

  async function follow() {
    for (;;) {
      try {
        const response = await api('/inspect/api/events', {headers: {accept: 'text/event-stream'}})
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`)
        setConnected(true, 'live')
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
        let buffer = ''
        for (;;) {
          const {done, value} = await reader.read()
          if (done) break
          buffer += value
          let end
          while ((end = buffer.indexOf('\n\n')) !== -1) {
            dispatch(buffer.slice(0, end))
            buffer = buffer.slice(end + 2)
          }
        }
        setConnected(false, 'disconnected, retrying')
      } catch (error) {
        setConnected(false, `disconnected (${error.message}), retrying`)
      }
      await new Promise((resolve) => setTimeout(resolve, 2000))
    }
  }

  function dispatch(block) {
    let event = 'message'
    const data = []
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7)
      else if (line.startsWith('data: ')) data.push(line.slice(6))
    }
    if (data.length === 0) return
    const payload = JSON.parse(data.join('\n'))
    if (event === 'snapshot') {
      about = payload.about
      document.title = `${about.name} · restwire inspector`
      $('title').textContent = `${about.name} · restwire inspector`
      records.clear()
      for (const record of payload.records) addRecord(record)
      showPeers(payload.peers)
      queueRender()
    } else if (event === 'record') {
      addRecord(payload)
      queueRender()
    } else if (event === 'peers') {
      showPeers(payload)
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('filter').addEventListener('input', queueRender)
    $('records').tBodies[0].addEventListener('click', (event) => {
      const tr = event.target.closest('tr')
      if (tr) open(Number(tr.dataset.id))
    })
    $('replay').addEventListener('click', replay)
    $('detail-close').addEventListener('click', () => {
      $('detail').hidden = true
      selected = undefined
      queueRender()
    })
    setInterval(drawCharts, 10_000)
    follow()
  })
})()
