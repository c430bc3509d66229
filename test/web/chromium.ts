// What every browser test needs: Debian's Chromium (a failed test, not a skip, when it is missing: CI
// installs it), a page that collects its uncaught errors, and the login form filled in.
import type { Test } from 'tap'
import { existsSync } from 'node:fs'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { ADMIN } from '../test-client.ts'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** True when Chromium is there; otherwise the test fails saying how to get it. */
export function haveChromium(t: Test): boolean {
  if (existsSync(CHROMIUM)) return true
  t.fail(`no Chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does it), or set CHROMIUM_PATH`)
  return false
}

export interface BrowserSession { browser: Browser; context: BrowserContext; page: Page; pageErrors: string[] }

/** A browser (closed when the test ends), one context of `width`×`height`, and its first page. */
export async function openBrowser(t: Test, viewport = { width: 1280, height: 900 }): Promise<BrowserSession> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
  t.teardown(() => browser.close())
  const context = await browser.newContext({ viewport })
  const page = await context.newPage()
  const pageErrors: string[] = []
  page.on('pageerror', (err) => pageErrors.push(err.message))
  return { browser, context, page, pageErrors }
}

/** Fills in the login form the page shows, as `user` (the bootstrap admin by default). */
export async function logIn(page: Page, user: { username: string; password: string } = ADMIN): Promise<void> {
  await page.locator('#username').waitFor()
  await page.fill('#username', user.username)
  await page.fill('#password', user.password)
  await page.click('button[type=submit]')
}
