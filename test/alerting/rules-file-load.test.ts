// Rules as code: a YAML file creates rules, a re-load updates changed ones and removes dropped ones,
// JSON works too, and a bad file is refused with every problem named (file, rule, field), writing nothing.
import t from 'tap'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadRulesFile, RulesFileError, rulesFileConsoleLog } from '../../services/alerting/rules-file.ts'
import { openTestStore } from '../test-client.ts'
import { bootstrapAdmin } from '../../services/auth/bootstrap-admin.ts'
import { addChannel, recordingDb, ruleLockAt } from './evaluation-helpers.ts'
import { LOCK_NAMESPACE } from '../../services/alerting/evaluate-rule.ts'

const log = { info() {}, warn() {} } as never

t.test('rules file', async (t) => {
  const store = await openTestStore(t)
  const db = store.db
  const { orgId } = await bootstrapAdmin(db, 'admin', 'admin-password-1')
  const channel = await addChannel(db, orgId, 'ops')
  const dir = await mkdtemp(join(tmpdir(), 'hostpulse-rules-'))
  const file = join(dir, 'rules.yaml')
  const rules = () => db.selectFrom('alert_rules').selectAll().where('org_id', '=', orgId).orderBy('name').execute()

  await t.test('a valid YAML file creates its rules with source file', async (t) => {
    await writeFile(file, `
rules:
  - name: High CPU
    metric: cpu.usage_percent
    window: 5m
    threshold: 90
    warning_threshold: 75
    for: 1m
    channels: ["${channel}"]
    annotations:
      summary: "CPU {{value}}% on {{agent}}"
  - name: Root disk
    metric: disk.usage_percent
    tags: { mount_point: / }
    threshold: 95
    channels: [ops]
  - name: Offline
    metric: agent.offline
    window: 60s
`)
    const result = await loadRulesFile(db, file, orgId, log)
    t.same(result, { created: 3, updated: 0, removed: 0 })
    const stored = await rules()
    t.same(stored.map((r) => [r.name, r.source, r.kind]), [['High CPU', 'file', 'threshold'], ['Offline', 'file', 'agent_offline'], ['Root disk', 'file', 'threshold']])
    t.match(stored[0], { window_seconds: 300, for_seconds: 60, warning_threshold: 75, channels: [channel], annotations: { summary: 'CPU {{value}}% on {{agent}}' } })
    t.same(stored[2].channels, [channel], 'a channel named in the file (the file cannot know ids) is stored by id')
    t.same(await loadRulesFile(db, file, orgId, log), { created: 0, updated: 0, removed: 0 }, 'loading the same file again changes nothing')
  })

  await t.test('a re-load updates changed rules and removes dropped ones; API rules are left alone', async (t) => {
    await db.insertInto('alert_rules').values({ org_id: orgId, name: 'Made in the UI', metric: 'memory.usage_percent', threshold: 90, labels: '{}', tags: '{}', annotations: '{}' }).execute()
    await writeFile(file, `
rules:
  - name: High CPU
    metric: cpu.usage_percent
    window: 5m
    threshold: 95
  - name: New one
    metric: load.load1
    threshold: 8
`)
    const result = await loadRulesFile(db, file, orgId, log)
    t.same(result, { created: 1, updated: 1, removed: 2 })
    const stored = await rules()
    t.same(stored.map((r) => [r.name, r.source]), [['High CPU', 'file'], ['Made in the UI', 'api'], ['New one', 'file']])
    t.match(stored[0], { threshold: 95, warning_threshold: null, channels: [], for_seconds: 0 }, 'a full replace, like PUT')
  })

  await t.test('JSON works too', async (t) => {
    const json = join(dir, 'rules.json')
    await writeFile(json, JSON.stringify({ rules: [{ name: 'High CPU', metric: 'cpu.usage_percent', window: '5m', threshold: 95 }, { name: 'From JSON', metric: 'process.absent', tags: { name: 'nginx' } }] }))
    t.same(await loadRulesFile(db, json, orgId, log), { created: 1, updated: 0, removed: 1 })
  })

  await t.test('a bad file names the file, each bad rule and field, and writes nothing', async (t) => {
    const before = await rules()
    await writeFile(file, `
rules:
  - name: Fine
    metric: cpu.usage_percent
    threshold: 10
  - name: No threshold
    metric: cpu.usage_percent
  - name: Bad field
    metric: disk.nope
    threshold: 1
  - name: Bad channel
    metric: cpu.usage_percent
    threshold: 1
    channels: ["${channel}", "00000000-0000-0000-0000-000000000000"]
  - name: Bad duration
    metric: cpu.usage_percent
    threshold: 1
    window: forever
  - metric: cpu.usage_percent
    threshold: 1
  - name: Fine
    metric: cpu.usage_percent
    threshold: 20
  - name: Bad aggregation
    metric: cpu.usage_percent
    aggregation: median
    threshold: 1
`)
    const err = await loadRulesFile(db, file, orgId, log).then(() => undefined, (e: unknown) => e)
    t.ok(err instanceof RulesFileError, 'a RulesFileError')
    const message = (err as Error).message
    t.match(message, file, 'names the file')
    t.match(message, 'rules[1] ("No threshold"): threshold is required')
    t.match(message, 'rules[2] ("Bad field"): metric disk has no field "nope"')
    t.match(message, 'rules[3] ("Bad channel"): channels[1]')
    t.match(message, 'rules[4] ("Bad duration"): window must be a duration')
    t.match(message, 'rules[5]: name is required')
    t.match(message, 'rules[6] ("Fine"): name repeats the name of rules[0]')
    t.match(message, 'rules[7] ("Bad aggregation"): aggregation')
    t.same(await rules(), before, 'nothing written')
  })

  await t.test('instances starting together load one after the other: the load takes its own lock first', async (t) => {
    const path = join(dir, 'together.yaml')
    await writeFile(path, 'rules:\n  - name: Together\n    metric: cpu.usage_percent\n    threshold: 99\n')
    const recorded = recordingDb(db)
    const results = await Promise.all([loadRulesFile(recorded.db, path, orgId, log), loadRulesFile(recorded.db, path, orgId, log)])
    t.same(results.map((r) => r.created).sort(), [0, 1], 'one creates, the other finds it made')
    const isFileLock = (q: string) => q.includes('pg_advisory_xact_lock') && q.includes(`"value":${0x68_70_72_66}`) // "hprf"
    t.equal(recorded.queries.filter(isFileLock).length, 2, 'one lock per load')
    const firstRead = recorded.queries.findIndex((q) => q.includes('"name":"alert_rules"'))
    t.ok(recorded.queries.findIndex(isFileLock) < firstRead, 'taken before the rules are read')
  })

  await t.test('rules whose alerts end are all locked first, in id order, before any write', async (t) => {
    const path = join(dir, 'ordered.yaml')
    const body = (names: string[], threshold: number, extra = '') => `rules:\n${names.map((n) => `  - name: ${n}\n    metric: cpu.usage_percent\n    threshold: ${threshold}\n${extra}`).join('')}`
    const names = ['Order 1', 'Order 2', 'Order 3', 'Order 4']
    await writeFile(path, body(names, 90))
    await loadRulesFile(db, path, orgId, log)
    const ids = (await db.selectFrom('alert_rules').select(['id', 'name']).where('name', 'in', names).execute())
    // Two disabled (their alerts end), two removed from the file: four rules retired in one load.
    await writeFile(path, body(names.slice(0, 2), 90, '    enabled: false\n'))
    const recorded = recordingDb(db)
    await loadRulesFile(recorded.db, path, orgId, log)
    const lockAt = ids.map((r) => ruleLockAt(recorded.queries, LOCK_NAMESPACE, r.id))
    const sortedLocks = [...ids].sort((x, y) => (x.id < y.id ? -1 : 1)).map((r) => ruleLockAt(recorded.queries, LOCK_NAMESPACE, r.id))
    const firstWrite = recorded.queries.findIndex((q) => q.includes('UpdateQueryNode') || q.includes('DeleteQueryNode') || q.includes('InsertQueryNode'))
    t.ok(lockAt.every((at) => at >= 0), `every retired rule's lock is taken (${lockAt.join(', ')})`)
    t.same([...sortedLocks].sort((x, y) => x - y), sortedLocks, 'in id order')
    t.ok(firstWrite > Math.max(...lockAt), 'before the first write')
    await db.deleteFrom('alert_rules').where('name', 'in', names).execute()
  })

  await t.test('at start, warnings print their message and the rule (not [object Object])', async (t) => {
    const lines: string[] = []
    await db.insertInto('alert_rules').values({ org_id: orgId, name: 'Taken over', metric: 'memory.usage_percent', threshold: 90, labels: '{}', tags: '{}', annotations: '{}' }).execute()
    const path = join(dir, 'takeover.yaml')
    await writeFile(path, 'rules:\n  - name: Taken over\n    metric: memory.usage_percent\n    threshold: 95\n')
    await loadRulesFile(db, path, orgId, rulesFileConsoleLog((line) => lines.push(line)))
    t.same(lines, ['alert rule made through the API is now managed by the rules file: Taken over'])
    const plain: string[] = []
    rulesFileConsoleLog((line) => plain.push(line)).warn('just a message')
    t.same(plain, ['just a message'])
  })

  await t.test('unreadable, unparsable or wrongly shaped files are refused clearly', async (t) => {
    const cases: Array<[string, string | null, RegExp]> = [
      ['missing file', null, /cannot be read/],
      ['broken YAML', 'rules: [ {name: x', /not valid YAML or JSON/],
      ['no rules list', 'alerts: []', /must be an object with a "rules" list/],
      ['a list at top level', '- name: x', /must be an object with a "rules" list/],
    ]
    for (const [name, text, pattern] of cases) {
      const path = join(dir, `${name.replace(/\W/g, '-')}.yaml`)
      if (text !== null) await writeFile(path, text)
      const err = await loadRulesFile(db, path, orgId, log).then(() => undefined, (e: unknown) => e)
      t.ok(err instanceof RulesFileError, `${name}: refused`)
      t.match((err as Error).message, pattern, name)
    }
  })
})
