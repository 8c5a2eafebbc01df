#!/bin/bash
# stand-in for error_gen.sh
exit 0
