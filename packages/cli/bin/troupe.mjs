#!/usr/bin/env node
import "../dist/troupe.mjs"
