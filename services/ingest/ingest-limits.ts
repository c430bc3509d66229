// What every ingest path accepts, whichever face received the data.

/** Clock skew tolerated before a timestamp is called wrong. */
export const MAX_FUTURE_MS = 5 * 60_000
/** An item's own time stays within a day of its batch's (a process tree is read around its snapshot). */
export const MAX_ITEM_SKEW_MS = 86_400_000
/** Batches in one request (an agent replaying its disk buffer sends many). */
export const MAX_BATCHES_PER_REQUEST = 500
