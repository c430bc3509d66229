// The scrubbing rules as a table: each secret form, and lines that must stay as they are.
import t from 'tap'
import { isSecretName, parseScrubPattern, scrubCommandLine } from '../../contract/command-line-secrets.ts'
import { SCRUB_CASES } from './command-line-cases.ts'

t.test('every command line in the table scrubs to its expected form', async (t) => {
  for (const [line, expected] of SCRUB_CASES) t.equal(scrubCommandLine(line), expected, line)
})

t.test('scrubbing is idempotent: a scrubbed line stays as it is', async (t) => {
  for (const [line] of SCRUB_CASES) {
    const once = scrubCommandLine(line)
    t.equal(scrubCommandLine(once), once, line)
  }
})

t.test('names that hold a secret, and names that only describe one', async (t) => {
  for (const name of ['password', 'api-key', 'apiKey', 'AWS_SECRET_ACCESS_KEY', 'PGPASSWORD', 'auth', 'X-Auth-Token', 'githubToken', 'client_secret', 'passphrase']) {
    t.ok(isSecretName(name), name)
  }
  for (const name of ['password-file', 'token-ttl', 'no-auth', 'keyboard', 'tokenizer', 'max-tokens', 'server', 'secret-id', 'monkey']) {
    t.notOk(isSecretName(name), name)
  }
})

t.test('extra patterns: /regex/flags or a bare regex, each match replaced whole', async (t) => {
  const patterns = [parseScrubPattern('/corp-[a-z0-9]{8}/i'), parseScrubPattern('ticket=\\d+')]
  t.equal(scrubCommandLine('deploy CORP-ab12cd34 ticket=991 now', patterns), 'deploy *** *** now')
  t.equal(scrubCommandLine('nothing here', patterns), 'nothing here')
  t.throws(() => parseScrubPattern('(unclosed'), /Invalid regular expression/)
  t.throws(() => parseScrubPattern('x*'), /matches the empty string/)
})
