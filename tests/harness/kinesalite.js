// Starts kinesalite on 127.0.0.1 only (its CLI binds every interface) and prints the port.
// Usage: node kinesalite.js [port]   (port 0 or none = any free port)
// The server exits when its standard input closes, so a test that dies leaves no server behind.
'use strict';
const kinesalite = require('kinesalite');
const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 });
const port = Number(process.argv[2] || 0);
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
