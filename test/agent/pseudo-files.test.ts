// Kernel pseudo-files read into one reused buffer: whole files of any size, or one read of a given size.
import t from 'tap'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { readPseudoFile, readPseudoFileOr } from '../../agent/pseudo-files.ts'

t.test('a file larger than the buffer is read whole, and a smaller one after it is not mixed with it', async t => {
  const big = Array.from({ length: 5000 }, (_, i) => `line ${i} ü`).join('\n')
  const dir = t.testdir({ big, small: 'small\n' })
  t.equal(readPseudoFile(join(dir, 'big')), big)
  t.equal(readPseudoFile(join(dir, 'small')), 'small\n')
})

t.test('/proc files read whole, as readFileSync reads them', async t => {
  t.equal(readPseudoFile('/proc/self/cmdline'), readFileSync('/proc/self/cmdline', 'utf8'))
  t.equal(readPseudoFile('/proc/self/mounts'), readFileSync('/proc/self/mounts', 'utf8'))
})

t.test('one read of a given size; a missing file is the fallback or an error', async t => {
  const dir = t.testdir({ text: 'abcdefgh' })
  t.equal(readPseudoFile(join(dir, 'text'), 3), 'abc')
  t.equal(readPseudoFileOr(join(dir, 'nothing'), 'none'), 'none')
  t.throws(() => readPseudoFile(join(dir, 'nothing')), { code: 'ENOENT' })
})
