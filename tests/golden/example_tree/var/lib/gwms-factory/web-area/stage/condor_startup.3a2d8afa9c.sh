#!/bin/bash
# stand-in for condor_startup.sh
exit 0
