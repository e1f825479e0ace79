// A local EC2 instance metadata service (IMDS) for tests: 127.0.0.1, any free port, printed on
// standard output. Built-in modules only (no npm packages).
// Usage: node imds.js [v2|v1[:HOW]] [notags] [nottl] [tag=KEY=VALUE] [failtag=KEY] [ghosttag=KEY]
//   v2 (default)  IMDSv2 required: PUT /latest/api/token issues tokens; a GET without a valid
//                 X-aws-ec2-metadata-token gets 401, like an instance with HttpTokens=required.
//   v1[:HOW]      GETs work without a token, and PUT /latest/api/token fails HOW: 403 (default,
//                 as a proxy blocking PUT would), 404, 405, `drop` (the connection is closed
//                 without a reply) or `hang` (never answered, as when a hop limit of 1 drops
//                 the reply).
//   notags        /latest/meta-data/tags/instance/ answers 404 (tags not exposed in metadata).
//   nottl         token replies lack the X-aws-ec2-metadata-token-ttl-seconds header.
//   tag=KEY=VALUE one more instance tag.
//   failtag=KEY   the value of tag KEY answers 500.
//   ghosttag=KEY  KEY is listed among the tags but its value answers 404 (deleted meanwhile).
// GET /__stats returns request counts per "METHOD path" (the path as sent, percent-encoded),
// the token flow and the last token issued as JSON; it needs no token and is not counted. The server exits when its standard input closes, so a test that dies
// leaves no server behind.
'use strict';
const http = require('http');
const crypto = require('crypto');

const args = process.argv.slice(2);
const v1Arg = args.find((a) => a === 'v1' || a.startsWith('v1:'));
const mode = v1Arg === undefined ? 'v2' : 'v1';
const putFailure = v1Arg === undefined ? undefined : v1Arg.split(':')[1] || '403';
const noTags = args.includes('notags');
const noTtl = args.includes('nottl');
const valuesOf = (name) => args.filter((a) => a.startsWith(`${name}=`)).map((a) => a.slice(name.length + 1));
const failTags = valuesOf('failtag');
const ghostTags = valuesOf('ghosttag');

const TOKEN_PATH = '/latest/api/token';
const DOCUMENT_PATH = '/latest/dynamic/instance-identity/document';
const TAGS_PATH = '/latest/meta-data/tags/instance/';
const TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'x-aws-ec2-metadata-token';

const identity = {
  accountId: '123456789012',
  architecture: 'x86_64',
  availabilityZone: 'us-east-1a',
  billingProducts: null,
  devpayProductCodes: null,
  marketplaceProductCodes: null,
  imageId: 'ami-0abcdef1234567890',
  instanceId: 'i-0123456789abcdef0',
  instanceType: 'm5.large',
  kernelId: null,
  pendingTime: '2024-05-01T09:00:00Z',
  privateIp: '10.0.0.5',
  ramdiskId: null,
  region: 'us-east-1',
  version: '2017-09-30',
};
const tags = { Name: 'web-1', Env: 'Test' };
for (const pair of valuesOf('tag')) {
  const i = pair.indexOf('=');
  tags[pair.slice(0, i)] = pair.slice(i + 1);
}
const metaData = {
  'instance-id': identity.instanceId,
  'instance-type': identity.instanceType,
  'ami-id': identity.imageId,
  'local-ipv4': identity.privateIp,
  'placement/availability-zone': identity.availabilityZone,
  'placement/region': identity.region,
};

const tokens = new Map(); // token -> expiry (ms since epoch)
const stats = {
  mode,
  requests: {}, // "METHOD path" -> count
  tokensIssued: 0,
  getsWithToken: 0,
  getsWithoutToken: 0,
  rejected: 0, // GETs answered 401
  lastToken: null,
};

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'text/plain', ...headers });
  res.end(body === undefined ? '' : body);
}

function validToken(value) {
  const expiry = value === undefined ? undefined : tokens.get(value);
  return expiry !== undefined && expiry > Date.now();
}

function handle(req, res) {
  const path = req.url.split('?')[0];
  if (req.method === 'GET' && path === '/__stats') {
    send(res, 200, JSON.stringify(stats), { 'Content-Type': 'application/json' });
    return;
  }
  const key = `${req.method} ${path}`;
  stats.requests[key] = (stats.requests[key] || 0) + 1;

  if (path === TOKEN_PATH) {
    if (req.method !== 'PUT') return send(res, 405);
    if (putFailure === 'drop') return req.socket.destroy();
    if (putFailure === 'hang') return;
    if (mode === 'v1') return send(res, Number(putFailure));
    // Real IMDS refuses proxied token requests and TTLs outside 1..21600.
    if (req.headers['x-forwarded-for'] !== undefined) return send(res, 403);
    const ttl = Number(req.headers[TTL_HEADER]);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return send(res, 400);
    const token = crypto.randomBytes(30).toString('base64');
    tokens.set(token, Date.now() + ttl * 1000);
    stats.tokensIssued += 1;
    stats.lastToken = token;
    return send(res, 200, token, noTtl ? {} : { 'X-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
  }
  if (req.method !== 'GET') return send(res, 405);

  const token = req.headers[TOKEN_HEADER];
  if (validToken(token)) {
    stats.getsWithToken += 1;
  } else if (mode === 'v2') {
    stats.rejected += 1;
    return send(res, 401);
  } else {
    stats.getsWithoutToken += 1;
  }

  if (path === DOCUMENT_PATH) {
    // Sent in two writes, so Node frames it with Transfer-Encoding: chunked, as IMDS may.
    const body = JSON.stringify(identity, null, 2);
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.write(body.slice(0, 40));
    res.end(body.slice(40));
    return;
  }
  if (path.startsWith(TAGS_PATH)) {
    if (noTags) return send(res, 404);
    let name;
    try {
      name = decodeURIComponent(path.slice(TAGS_PATH.length));
    } catch (e) {
      return send(res, 400);
    }
    if (name === '') return send(res, 200, Object.keys(tags).concat(ghostTags).join('\n'));
    if (failTags.includes(name)) return send(res, 500);
    if (Object.prototype.hasOwnProperty.call(tags, name)) return send(res, 200, tags[name]);
    return send(res, 404);
  }
  const meta = path.startsWith('/latest/meta-data/') ? path.slice('/latest/meta-data/'.length) : null;
  if (meta !== null && Object.prototype.hasOwnProperty.call(metaData, meta)) {
    return send(res, 200, metaData[meta]);
  }
  return send(res, 404);
}

const server = http.createServer((req, res) => {
  // Requests have no body that matters; wait for its end so the socket is read completely.
  req.resume();
  req.on('end', () => handle(req, res));
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
