// The alert bus's payload: built from an event row, sent and parsed with one schema, tolerant of notices
// from an older instance (defaults for what they lack), refusing what is not a notice.
import t from 'tap'
import { alertNotice, parseAlertNotice } from '../../services/bus/alert-bus.ts'

const event = {
  org_id: 'o1', id: 'e1', rule_id: 'r1', rule_name: 'cpu high', agent_id: 'a1', agent_name: 'web-01',
  severity: 'critical', value: 97.5, summary: 'cpu 97.5 > 90', started_at: new Date('2026-06-01T10:00:00Z'),
}

t.test('a notice from an event row, firing or resolved', async (t) => {
  const firing = alertNotice(event, null)
  t.same(firing, {
    org_id: 'o1', event_id: 'e1', rule_id: 'r1', rule_name: 'cpu high', agent_id: 'a1', agent_name: 'web-01', severity: 'critical',
    state: 'firing', value: 97.5, summary: 'cpu 97.5 > 90', started_at: '2026-06-01T10:00:00.000Z', resolved_at: null,
  })
  const resolved = alertNotice(event, new Date('2026-06-01T10:05:00Z'))
  t.equal(resolved.state, 'resolved')
  t.equal(resolved.resolved_at, '2026-06-01T10:05:00.000Z')
  t.same(parseAlertNotice(JSON.stringify(resolved)), resolved, 'what is sent parses back the same')
})

t.test('older or partial notices get defaults; non-notices are refused', async (t) => {
  const parsed = parseAlertNotice(JSON.stringify({ org_id: 'o1', event_id: 'e1', state: 'firing' }))!
  t.equal(parsed.severity, 'critical')
  t.equal(parsed.rule_id, null)
  t.equal(parsed.summary, '')
  t.ok(Date.parse(parsed.started_at) > 0)
  for (const bad of ['not json', '[]', '{"org_id":"o1","state":"firing"}', '{"org_id":"o1","event_id":"e1","state":"gone"}']) {
    t.equal(parseAlertNotice(bad), undefined, bad)
  }
})
