// Decodes an Avro object container file with avsc and prints
// {"schema": <the header's avro.schema, as written>, "rows": [...]} as JSON
// on stdout.
// Usage: node decode.js PART.avro
'use strict';
const avsc = require('avsc');

const rows = [];
let schema = null;
avsc.createFileDecoder(process.argv[2])
  .on('metadata', (type, codec, header) => {
    schema = JSON.parse(header.meta['avro.schema'].toString('utf8'));
  })
  .on('data', (row) => { rows.push(row); })
  .on('error', (err) => { console.error(err.message); process.exit(1); })
  .on('end', () => { process.stdout.write(JSON.stringify({ schema, rows })); });
