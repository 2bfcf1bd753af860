'use strict'
// Drives a KafkaJS admin client against the oauthbearer broker emulator, for
// tests/test_interop_kafkajs.py.
//
//   node drive.js '{"bootstrap": "127.0.0.1:9093", "token": "...", ...}'
//
// Input (one JSON argument):
//   bootstrap                  "host:port"
//   token                      the token value oauthBearerProvider returns
//   extensions                 optional object: the token's SASL extensions
//   authorization_identity     optional: sasl.authorizationIdentity
//   scenario                   "list": connect, then listTopics once;
//                              "reauth": connect, listTopics, wait pause_ms, listTopics
//   pause_ms                   for "reauth"
//   reauthentication_threshold KafkaJS's reauthenticationThreshold (ms), optional
//   connection_timeout_ms, authentication_timeout_ms, request_timeout_ms
//   deadline_ms                the whole run; past it, {"ok": false, "error": {"name": "DriverTimeout"}}
//   log_level                  optional: a KafkaJS logLevel name for stderr (default "ERROR")
//
// Output: ONE JSON line on stdout, then exit 0:
//   {"ok": true, "topics": [[...], ...]}       the topics of each listTopics
//   {"ok": false, "stage": "connect" | "listTopics", "topics": [...],
//    "error": {name, message, type, code, retriable, cause}}
// KafkaJS's log entries go to stderr, one JSON object a line. The token never
// appears in either stream.

const { Kafka, logLevel } = require('kafkajs')

const input = JSON.parse(process.argv[2])

let done = false
function finish(result) {
  if (done) return
  done = true
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0))
}

function describe(error, depth = 0) {
  if (error == null || typeof error !== 'object') return { name: 'Error', message: String(error) }
  const out = { name: error.name, message: error.message }
  for (const key of ['type', 'code', 'retriable']) {
    if (error[key] !== undefined) out[key] = error[key]
  }
  if (error.cause != null && error.cause !== error && depth < 5) {
    out.cause = describe(error.cause, depth + 1)
  }
  return out
}

setTimeout(() => {
  finish({ ok: false, error: { name: 'DriverTimeout', message: `no outcome in ${input.deadline_ms} ms` } })
}, input.deadline_ms).unref()

// One JSON object per KafkaJS log entry on stderr, for the test to read.
const LEVEL_NAMES = Object.fromEntries(Object.entries(logLevel).map(([name, n]) => [n, name]))
const logCreator = () => ({ namespace, level, log }) => {
  process.stderr.write(JSON.stringify({ level: LEVEL_NAMES[level], namespace, ...log }) + '\n')
}

const sasl = {
  mechanism: 'oauthbearer',
  ...(input.authorization_identity === undefined
    ? {}
    : { authorizationIdentity: input.authorization_identity }),
  oauthBearerProvider: async () =>
    input.extensions ? { value: input.token, extensions: input.extensions } : { value: input.token },
}

const kafka = new Kafka({
  clientId: 'oauthbearer-interop',
  brokers: [input.bootstrap],
  sasl,
  connectionTimeout: input.connection_timeout_ms,
  authenticationTimeout: input.authentication_timeout_ms,
  requestTimeout: input.request_timeout_ms,
  ...(input.reauthentication_threshold === undefined
    ? {}
    : { reauthenticationThreshold: input.reauthentication_threshold }),
  retry: { retries: 0 },
  logLevel: logLevel[input.log_level || 'ERROR'],
  logCreator,
})

async function main() {
  const admin = kafka.admin({ retry: { retries: 0 } })
  const topics = []
  let stage = 'connect'
  try {
    await admin.connect()
    stage = 'listTopics'
    topics.push(await admin.listTopics())
    if (input.scenario === 'reauth') {
      await new Promise(resolve => setTimeout(resolve, input.pause_ms))
      topics.push(await admin.listTopics())
    } else if (input.scenario !== 'list') {
      throw new Error(`unknown scenario ${input.scenario}`)
    }
    return { ok: true, topics }
  } catch (error) {
    return { ok: false, stage, topics, error: describe(error) }
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

main().then(finish, error => finish({ ok: false, error: describe(error) }))
