// The JWT signing secret: JWT_SECRET if set, else one generated at first start and kept in the data dir,
// so sessions survive restarts. Several API instances must share JWT_SECRET.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'

export async function resolveJwtSecret(configured: string | undefined, dataDir: string): Promise<string> {
  if (configured) return configured
  const file = join(dataDir, 'jwt-secret')
  try {
    const stored = (await readFile(file, 'utf8')).trim()
    if (stored.length >= 32) return stored
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const secret = randomBytes(48).toString('base64url')
  await mkdir(dataDir, { recursive: true })
  await writeFile(file, `${secret}\n`, { mode: 0o600 })
  return secret
}

/** Fragments of the placeholder secrets that tutorials, templates and our own tests use. */
const PLACEHOLDER_FRAGMENTS = [
  'changeme', 'change-me', 'change_me', 'replaceme', 'replace-me', 'your-secret', 'yoursecret', 'your_secret', 'your-256-bit-secret',
  'supersecret', 'super-secret', 'secretkey', 'secret-key', 'jwt-secret', 'jwtsecret', 'jwt_secret', 'placeholder', 'example',
  'default', 'test-secret', 'password', 'hostpulse',
]

/** Why a signing secret is unfit for production (too short, a known placeholder, too repetitive); undefined if fine. */
export function weakJwtSecretReason(secret: string): string | undefined {
  if (secret.length < 32) return `is too short (${secret.length} characters, at least 32 needed)`
  const lower = secret.toLowerCase()
  const fragment = PLACEHOLDER_FRAGMENTS.find((f) => lower.includes(f))
  if (fragment) return `looks like a placeholder (contains "${fragment}")`
  if (new Set(secret).size < 12) return `is too repetitive (${new Set(secret).size} distinct characters)`
  return undefined
}
