// Text from remote peers (delivery errors, receiver replies) shown through the API: a webhook's secret
// lives in its URL, so URLs, URL paths (also without a scheme: "hooks.slack.com/services/T0/B0/x") and
// bare token-like strings are replaced before the text leaves the server.
const URL_PATTERN = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi
// Two or more path segments, or one long enough to be a token ("/hook" and "text/plain" stay).
const PATH_PATTERN = /(?:\/[^\s/"'<>]+){2,}\/?|\/[A-Za-z0-9_-]{16,}/g
// Long runs of letters and digits mixed: API keys, webhook tokens.
const TOKEN_PATTERN = /\b(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{24,}\b/g

/** The sentence's punctuation after a URL ("see https://x/y, then") is not part of it. */
const keepingPunctuation = (replacement: string) => (match: string) => replacement + (/[.,;:!?)\]]+$/.exec(match)?.[0] ?? '')

export function redactUrls(text: string): string
export function redactUrls(text: string | null): string | null
export function redactUrls(text: string | null): string | null {
  if (text === null) return null
  return text.replace(URL_PATTERN, keepingPunctuation('[url redacted]')).replace(PATH_PATTERN, keepingPunctuation('/[path redacted]'))
    .replace(TOKEN_PATTERN, '[token redacted]')
}
