#!/bin/bash
# stand-in for cat_consts.sh
exit 0
