// The process tree built from a flat list: every process appears once, whatever the parent pids say (loops
// from pid reuse between two reads of /proc, or in a submitted list), and a filter keeps a match's ancestors.
import t from 'tap'
import { buildProcessTree, type ProcessNode } from '../../services/query/process-tree.ts'

type P = { pid: number; parent_pid: number | null; name: string; cmdline: string }
const p = (pid: number, parent_pid: number | null, name = `p${pid}`): P => ({ pid, parent_pid, name, cmdline: name })

function flatten(nodes: Array<P & ProcessNode<P>>, depth = 0, out: string[] = []): string[] {
  for (const n of nodes) { out.push(`${'.'.repeat(depth)}${n.pid}`); flatten(n.children as Array<P & ProcessNode<P>>, depth + 1, out) }
  return out
}

t.test('a plain tree: children under their parents, ordered by pid; unknown parents are roots', async (t) => {
  t.same(flatten(buildProcessTree([p(1, 0), p(30, 1), p(20, 1), p(21, 20), p(99, 500)])), ['1', '.20', '..21', '.30', '99'])
})

t.test('loops in the parent pids: each cut at its lowest pid, every process once', async (t) => {
  // 5 ↔ 6 (with 7 and 3 under 6: a lower pid than the loop's), 10 → 11 → 12 → 10 (with 4 under 12), and 8
  // its own parent, beside a normal tree.
  const list = [p(1, 0), p(2, 1), p(6, 5), p(5, 6), p(7, 6), p(3, 6), p(11, 10), p(12, 11), p(10, 12), p(4, 12), p(8, 8)]
  const tree = flatten(buildProcessTree(list))
  t.same(tree, ['1', '.2', '5', '.6', '..3', '..7', '8', '10', '.11', '..12', '...4'], 'children below a loop stay under their parents')
  t.same(tree.map((s) => Number(s.replace(/\./g, ''))).sort((a, b) => a - b), list.map((x) => x.pid).sort((a, b) => a - b), 'every process once')
})

t.test('a filter keeps the matches and their ancestors, loops or not', async (t) => {
  const list = [p(1, 0, 'init'), p(2, 1, 'sshd'), p(3, 2, 'bash'), p(6, 5, 'nginx'), p(5, 6, 'nginx-master')]
  t.same(flatten(buildProcessTree(list, 'bash')), ['1', '.2', '..3'])
  t.same(flatten(buildProcessTree(list, 'nginx')), ['5', '.6'])
})
