#!/bin/bash
# RULE21's two networks at once: RULE19's command and seeds (train19.sh), named c8v8_81 and c8v8_82.
exec "$(dirname "$0")/train19.sh" c8v8
