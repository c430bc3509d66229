// Crash drill (issue 15 part 3), CI-sized: the API (`npm start`, embedded engine) SIGKILLed while 10
// simulated agents write to it, down 4 s, started again on the same data directory (bench/crash-drill.ts;
// `npm run bench:drills` runs it at fleet size). Every batch the agents generated must be stored exactly
// once: what the API acknowledged survived the kill, and what it did not waited in the agents' buffers.
import t from 'tap'
import { runCrashDrill } from '../../bench/crash-drill.ts'

t.test('the API SIGKILLed under load and restarted: every batch stored once', async (t) => {
  // Short backoff steps, so the agents notice the restart within a second or two (the real policy caps at 60 s).
  const report = await runCrashDrill({ agents: 10, intervalMs: 1000, beforeMs: 6000, downMs: 4000, afterMs: 5000, backoff: { baseMs: 500, capMs: 2000 }, progress: (line) => t.comment(line) })
  t.equal(report.killedExitCode, null, 'the API died of the signal, mid-run')
  t.ok(report.bufferingWhileDown > 0, `agents buffered while the API was down (${report.bufferingWhileDown} of 10)`)
  t.ok(report.drained, 'every agent emptied its buffer after the restart')
  t.equal(report.cleanExitCode, 0, 'the restarted API stops cleanly')
  t.equal(report.setAside, 0, 'no batch was refused')
  t.equal(report.leftBuffered, 0, 'nothing left in the agents\' buffers at the end')
  const { account } = report
  t.equal(account.lost, 0, `no batch lost (${account.stored} of ${account.generated} stored)`)
  t.equal(account.duplicatedRows, 0, `no row stored twice (${account.metricRows} metric rows for ${account.stored} batches)`)
  t.ok(account.generated > report.generatedBeforeKill, 'batches were generated after the kill too')
  t.comment(`restart ${(report.restartMs / 1000).toFixed(1)} s, caught up ${(report.catchUpMs / 1000).toFixed(1)} s after it`)
})
