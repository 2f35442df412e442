#!/bin/bash
# RULE23's two fine-tunes at once: RULE20's command (train20.sh) with seeds 53 (member 0) and 54 (member 1).
exec "$(dirname "$0")/train20.sh" 53 54
