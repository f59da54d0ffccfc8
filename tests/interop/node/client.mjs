// A stock yjs + y-websocket client, driven by the interop tests through JSON lines.
//
//   node client.mjs '{"server": "ws://host/api/v1/workspaces/ws/yjs", "key": "notes/a",
//                     "token": "imx_…", "kind": "text", "name": "node"}'
//
// It prints {"event": "synced"} once synced. Then it reads commands from stdin, one JSON
// object a line:
//   {"cmd": "edit", "edits": [{"insert": [index, text]} | {"append": text} |
//                             {"delete": [index, length]} | {"set": [key, value]}]}
//       -> one transaction; prints {"event": "edited", "updates": [base64 of what it sent]}
//   {"cmd": "finish", "text": t} or {"cmd": "finish", "data": d}
//       -> waits until the document shows that value, prints {"event": "final", "text",
//          "data", "update", "stateVector"} (base64) and exits 0; exits 1 on timeout.
// A close by the server prints {"event": "closed", "code"} and exits 2.

import * as readline from 'node:readline'
import WebSocket from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'

const TIMEOUT_MS = 20000
const config = JSON.parse(process.argv[2])
const doc = new Y.Doc()
const text = doc.getText('content')
const data = doc.getMap('data')

function print (message) {
  return new Promise((resolve) => process.stdout.write(JSON.stringify(message) + '\n', resolve))
}

async function exit (code, message) {
  await print(message)
  provider.destroy()
  process.exit(code)
}

const provider = new WebsocketProvider(config.server, config.key, doc, {
  WebSocketPolyfill: WebSocket,
  params: { token: config.token, kind: config.kind },
  disableBc: true
})
provider.awareness.setLocalStateField('user', { name: config.name })
provider.on('closed', ({ code }) => exit(2, { event: 'closed', code }))
provider.once('sync', (synced) => synced && print({ event: 'synced' }))

const timer = setTimeout(() => exit(1, { event: 'timeout', text: text.toString() }), TIMEOUT_MS)

function edit (edits) {
  const updates = []
  const record = (update) => updates.push(Buffer.from(update).toString('base64'))
  doc.on('update', record)
  doc.transact(() => {
    for (const step of edits) {
      if (step.insert) text.insert(step.insert[0], step.insert[1])
      if (step.append) text.insert(text.length, step.append)
      if (step.delete) text.delete(step.delete[0], step.delete[1])
      if (step.set) data.set(step.set[0], step.set[1])
    }
  })
  doc.off('update', record)
  return updates
}

function shows (expected) {
  if ('text' in expected) return text.toString() === expected.text
  return JSON.stringify(sorted(data.toJSON())) === JSON.stringify(sorted(expected.data))
}

function sorted (value) {
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)))
}

function finish (expected) {
  const check = () => {
    if (!shows(expected)) return
    doc.off('update', check)
    clearTimeout(timer)
    exit(0, {
      event: 'final',
      text: text.toString(),
      data: data.toJSON(),
      update: Buffer.from(Y.encodeStateAsUpdate(doc)).toString('base64'),
      stateVector: Buffer.from(Y.encodeStateVector(doc)).toString('base64')
    })
  }
  doc.on('update', check)
  check()
}

for await (const line of readline.createInterface({ input: process.stdin })) {
  const command = JSON.parse(line)
  if (command.cmd === 'edit') {
    await print({ event: 'edited', updates: edit(command.edits) })
  } else if (command.cmd === 'finish') {
    finish(command)
  }
}
