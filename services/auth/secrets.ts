// Passwords get a memory-hard hash (scrypt); API keys and refresh tokens are long random strings,
// so a fast SHA-256 is enough to store them unreadably and look them up by hash.
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto'

const scrypt = (password: string, salt: Buffer, keylen: number, opts: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))))

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 64, maxmem: 64 * 1024 * 1024 }

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  const key = await scrypt(password, salt, SCRYPT.keylen, SCRYPT)
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$')
  if (scheme !== 'scrypt' || !salt || !key) return false
  const expected = Buffer.from(key, 'base64url')
  const actual = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, {
    N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem,
  })
  return timingSafeEqual(expected, actual)
}

/** A hash to compare against when the user does not exist, so both paths cost the same. */
export const DUMMY_PASSWORD_HASH = await hashPassword(randomBytes(16).toString('hex'))

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

/** A new agent API key: shown once, stored as sha256. The prefix makes leaked keys easy to grep for. */
export function newApiKey(): string {
  return `hp_${randomBytes(32).toString('base64url')}`
}

export function randomPassword(): string {
  return randomBytes(12).toString('base64url')
}
