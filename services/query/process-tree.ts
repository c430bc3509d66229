// A flat process list → the tree seed 000 draws (children nested by parent pid), optionally filtered by a
// query on name, pid or cmdline with every match's ancestors kept so the tree still reads.

export interface ProcessNode<T> { children: ProcessNode<T>[] }

export function buildProcessTree<T extends { pid: number; parent_pid: number | null; name: string; cmdline: string }>(
  processes: T[], q?: string,
): Array<T & ProcessNode<T>> {
  const byPid = new Map(processes.map((p) => [p.pid, p]))
  let keep: Set<number> | undefined
  if (q) {
    const needle = q.toLowerCase()
    keep = new Set()
    for (const p of processes) {
      if (!(p.name.toLowerCase().includes(needle) || p.cmdline.toLowerCase().includes(needle) || String(p.pid) === q)) continue
      // The match and its ancestors (a cycle in bad data must not loop forever).
      for (let cur: T | undefined = p; cur && !keep.has(cur.pid); cur = cur.parent_pid !== null ? byPid.get(cur.parent_pid) : undefined) {
        keep.add(cur.pid)
      }
    }
  }
  const nodes = new Map<number, T & ProcessNode<T>>()
  for (const p of processes) if (!keep || keep.has(p.pid)) nodes.set(p.pid, { ...p, children: [] })
  const roots: Array<T & ProcessNode<T>> = []
  for (const node of nodes.values()) {
    const parent = node.parent_pid !== null && node.parent_pid !== node.pid ? nodes.get(node.parent_pid) : undefined
    if (parent) parent.children.push(node)
    else roots.push(node)
  }
  // Parent pids that form a loop (pid reuse between two reads of /proc, or a submitted list) leave their
  // processes out of reach of every root: each loop is cut at its lowest pid, which becomes a root.
  const reached = new Set<number>()
  const reach = (from: T & ProcessNode<T>) => {
    const stack = [from]
    for (let n = stack.pop(); n; n = stack.pop()) {
      reached.add(n.pid)
      for (const c of n.children as Array<T & ProcessNode<T>>) if (!reached.has(c.pid)) stack.push(c)
    }
  }
  for (const root of roots) reach(root)
  if (reached.size < nodes.size) {
    for (const node of [...nodes.values()].sort((a, b) => a.pid - b.pid)) {
      if (reached.has(node.pid)) continue
      // Up the parents until one repeats: that stretch is the loop (every unreached process hangs below one).
      const path: Array<T & ProcessNode<T>> = []
      const onPath = new Set<number>()
      let cur = node
      while (!onPath.has(cur.pid)) {
        path.push(cur)
        onPath.add(cur.pid)
        cur = nodes.get(cur.parent_pid!)!
      }
      const loop = path.slice(path.indexOf(cur))
      const cut = loop.reduce((low, n) => (n.pid < low.pid ? n : low))
      const parent = nodes.get(cut.parent_pid!)!
      parent.children = parent.children.filter((c) => c !== cut)
      roots.push(cut)
      reach(cut)
    }
  }
  const sort = (list: Array<ProcessNode<T> & { pid: number }>) => { list.sort((a, b) => a.pid - b.pid); for (const n of list) sort(n.children as never) }
  sort(roots)
  return roots
}
