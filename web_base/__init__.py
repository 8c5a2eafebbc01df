"""Package data: glidein_startup.sh, its helper scripts, monitoring page assets."""
