#!/usr/bin/env node
// The compiled CLI (npm install builds it into dist/ through the "prepare" script).
import '../dist/murm.js';
