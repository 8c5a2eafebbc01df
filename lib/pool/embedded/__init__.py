"""The embedded pool: a single-host Collector + Schedd daemon on loopback.

Wire protocol (HTTP/1.1 on 127.0.0.1; simple enough that a glidein's bash stand-in can
speak it with curl). Writes carry `Authorization: Bearer <token>`; queries may be anonymous.

* `POST /v1/collector/advertise?command=<UPDATE_*>` — body: one or more old-syntax ads,
  blank-line separated (exactly what `condor_advertise -multiple` reads).
* `POST /v1/collector/invalidate?command=<INVALIDATE_*>` — body: an old-syntax query ad
  (`MyType = "Query"`, `TargetType = ...`, `Requirements = <expr>`) as condor_advertise takes.
"""
