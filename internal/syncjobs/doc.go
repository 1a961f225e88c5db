// Package syncjobs keeps Meridian's in-country mirrors current: the catalog
// mirror (products, prices, inventory snapshots; adapters/catalog) from the
// global Product & Inventory Master, and the content mirror (pages;
// adapters/content) from the global CMS. The mirrors are only as good as
// their freshness, and the origins are 150-300 ms away and sometimes gone,
// so every run is bounded, resumable and safe to repeat.
//
// # Jobs
//
// A Job (MasterdataJob, CMSJob) runs in one of two modes:
//
//   - Full sync, when the job has no cursor (first run) or its cursor
//     expired (originhttp.ErrCursorExpired): page through the origin's full
//     listing, upsert everything, then delete from the mirror what the
//     listing did not contain. The purge happens only after the listing was
//     read to its end: a listing that fails or stops part-way purges
//     nothing and leaves the cursor where it was.
//   - Incremental run: read the origin's change feed from the cursor, page
//     by page, applying each page's changes with idempotent upserts and
//     deletes, and move the cursor past each page once it is committed.
//
// # Where a full sync leaves the cursor
//
// The origins' feeds (see internal/globalsim and api/global.openapi.yaml)
// are ordered logs read with opaque cursors; reading from the empty cursor
// starts at the oldest retained change, and every read returns the cursor
// after what it returned, also at the end of the log. The master data feed
// starts empty (the seeded catalog is not in it); the CMS feed starts with
// a publication of every seeded page. Neither can be addressed by time, and
// a cursor cannot be built, only read.
//
// So a full sync first reads its feed from the empty cursor to the end,
// applying nothing, and keeps the cursor of the end (the head); then it
// reads the listing; and when the listing and purge have succeeded it
// stores the head. Taking the head before the listing is what makes it
// correct: a change made while the listing is being read lies after the
// head, so the next incremental run applies it even if the listing had
// already passed that product. Changes the listing did see are applied a
// second time, which idempotent upserts make harmless, and in feed order,
// so the mirror ends where the origin is. Taking the head after the listing
// would skip those changes for good.
//
// The head scan reads up to Config.MaxPages pages of the origin's largest
// page size. A feed longer than that leaves the cursor where the scan
// stopped: still correct, as the following runs replay the rest in order,
// only slower.
//
// # Runner
//
// A Runner schedules jobs: one goroutine per job runs it every
// Config.Interval (SYNC_INTERVAL, 30s by default), after a failure with an
// exponential backoff with full jitter capped at Config.MaxBackoff and
// reset by a success, and at once on Trigger (for the change webhook;
// triggers coalesce). Each run holds the job's Lease, so replicas sharing a
// database never run the same job at once, and records its outcome in the
// job's State (component "syncjobs" of the database), which is where the
// operator view (Status) and the lag come from on every replica.
//
// When an origin fails, the run fails: what it committed before failing
// stays (it was correct), nothing is purged, the cursor stays at the last
// committed page, the error is recorded, and the lag
// (meridian_sync_lag_seconds{job}, the time since the last success) grows
// until a run succeeds again. Runs are counted by
// meridian_sync_runs_total{job,outcome}.
//
// After a run commits changes, Config.OnChange learns which products or
// pages changed, so that cached responses can be purged by tag.
package syncjobs
