"""The embedded pool: a single-host Collector + Schedd daemon on loopback.

Wire protocol (HTTP/1.1 on 127.0.0.1; simple enough that a glidein's bash stand-in can
speak it with curl). Writes carry `Authorization: Bearer <token>` (an HS256 JWT signed
with the pool secret, made by `gwms-pool token create`); queries may be anonymous.
Bodies need a `Content-Length` (no chunked encoding), at most 64 MiB, 1 MiB per ad.

Collector:

* `POST /v1/collector/advertise?command=<UPDATE_*>` — body: one or more old-syntax ads,
  blank-line separated (exactly what `condor_advertise -multiple` reads). Answer
  `stored N`. An ad replaces the stored ad with the same `MyType` and `Name`; the
  Collector overwrites `AuthenticatedIdentity` (from the token), `AuthenticationMethod`,
  `LastHeardFrom` and `UpdatesTotal`. An ad lives `ClassAdLifetime` seconds, else the
  daemon's `--lifetime` (900).
* `POST /v1/collector/invalidate?command=<INVALIDATE_*>` — body: an old-syntax query ad
  (`MyType = "Query"`, `TargetType = ...`, `Requirements = <expr>`) as condor_advertise takes.
  Drops the matching ads of the command's table (generic, master, license, startd); for
  `INVALIDATE_ADS_GENERIC` only ads whose `MyType` is the `TargetType` (unless `Any`).
  Answer `invalidated N`.
* `GET /v1/collector/query?constraint=<expr>&projection=A,B` — or `POST` the same
  parameters form-encoded in the body (long constraints). Answer: one ad per line in
  compact new ClassAd syntax (`[ A = 1; B = "x" ]`), `text/plain`. The Collector's own
  ad (`MyType = "Collector"`, `DaemonStartTime`, `MyAddress`) is always there.

Schedd (job ads as `Schedd.query` returns them; `Owner` is the token identity's user part):

* `POST /v1/schedd/submit` — JSON `{"description": "<submit text>" | {key: value},
  "count": N (0: the description's queue N), "attrs": {name: value | {"expr": "..."}}}`.
  Answer JSON `{"cluster": id}`.
* `GET|POST /v1/schedd/query` — as the Collector query.
* `POST /v1/schedd/act` — JSON `{"action": "remove"|"hold"|"release", "jobs":
  ["1.0", "2"] | "<constraint>", "reason": "...", "hold_code": N|null, "hold_subcode": N}`.
  Answer JSON `{"count": n}`.

Who may do what (`auth.Authority`): only the factory's identity (`gfactory@localhost`) and
the administrator (`condor@localhost`) may submit or act (else 403, counted in the
Collector ad's `RefusedScheddActions`); an ad is replaced or invalidated only by the
identity that advertised it or the administrator, and `glidefactory*` ads come only from
the factory (else 403 / left in place, counted in `RefusedAdWrites`). Bounds: a query
body is at most 1 MiB; an expression at most 256 KiB, 16384 operator characters and 200
nested brackets; an ad at most 2048 attributes; connections wait at most `--timeout`
(30 s) idle or for a whole request, and at most 128 are served at once (else 503).

Other: `GET /v1/ping` — JSON `{"pid", "address", "start_time"}` (what `gwms-pool status`
checks). Errors: 4xx/5xx with a one-line `text/plain` reason (400 bad input, 401 token,
403 not allowed, 404/405 endpoint, 411 chunked, 413 too large, 431 header too long),
also logged in the state dir's `pool.log`.
"""
