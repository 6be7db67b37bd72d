#!/usr/bin/env node
// A real OAuth 2.0 / OpenID Connect authorization server (panva/oidc-provider 8.x) for
// warrant's compatibility tests: client-credentials (M2M) grant, two confidential
// clients (client_secret_basic and client_secret_post), JWT access tokens for one
// resource indicator, end-user logins (authorization code + PKCE through oidc-provider's
// development interactions: any login name becomes the `sub`, any password), and
// test-only introspection endpoints (/__testkit/stats and /__testkit/reset).
//
//   node testkit/oidc-provider.mjs [--port N] [--token-ttl SECONDS] [--strict-client-auth]
//                                  [--keys FILE]
//
// --keys FILE: a private JWKS ({"keys": [...]}, every key with `kid` and `alg`) used as
// the signing keys instead of the fresh per-run RSA key. The first key signs ID tokens of
// the `login` client and JWT access tokens; every other algorithm of the set gets a
// login client of its own (`login-es256`, ...) whose ID tokens use it. With several
// keys of one algorithm, the first one signs (rotation: [new, old]).
//
// Listens on 127.0.0.1 (port 0 = ephemeral). When ready it prints exactly one JSON line
// on stdout (issuer, port, clients with their per-run secrets, resource, scopes) and
// then prints nothing more on stdout; it runs until SIGTERM/SIGINT and exits 0.
// Nothing written after the ready line contains a client secret or a token.
//
// oidc-provider accepts client_secret_basic and client_secret_post interchangeably for a
// client registered with either; --strict-client-auth makes each client accept only its
// registered method (the other one gets 401 invalid_client), like stricter servers do.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

const RESOURCE = 'https://api.warrant-testkit.example';
const SCOPES = ['read', 'write', 'admin'];

function usage(msg) {
  process.stderr.write(`oidc-provider.mjs: ${msg}\n`
    + 'usage: node oidc-provider.mjs [--port N] [--token-ttl SECONDS] [--strict-client-auth]'
    + ' [--keys FILE]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const out = { port: 0, tokenTtl: 3600, strictClientAuth: false, keys: null };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const [flag, inline] = arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      i += 1;
      if (i >= argv.length) usage(`${flag} needs a value`);
      return argv[i];
    };
    const int = (v, min, max) => {
      if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
        usage(`${flag}: expected an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
      }
      return Number(v);
    };
    if (flag === '--port') out.port = int(value(), 0, 65535);
    else if (flag === '--token-ttl') out.tokenTtl = int(value(), 1, 10 * 365 * 24 * 3600);
    else if (flag === '--strict-client-auth' && inline === undefined) out.strictClientAuth = true;
    else if (flag === '--keys') out.keys = value();
    else if (flag === '--help' || flag === '-h') usage('help');
    else usage(`unknown argument ${JSON.stringify(arg)}`);
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));

// Per-run secrets: 32 random bytes, base64url (43 characters, no characters that need
// form-urlencoding, so client_secret_basic works with encoding-naive clients too).
const secret = () => randomBytes(32).toString('base64url');
const clients = {
  basic: { client_id: `testkit-basic-${randomBytes(4).toString('hex')}`, client_secret: secret() },
  post: { client_id: `testkit-post-${randomBytes(4).toString('hex')}`, client_secret: secret() },
};
const authOf = Object.fromEntries([
  [clients.basic.client_id, 'client_secret_basic'],
  [clients.post.client_id, 'client_secret_post'],
]);

// Signing keys: the --keys file, else a fresh RSA key per run (otherwise oidc-provider
// falls back to a fixed dev key).
function loadKeys(file) {
  let doc;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    usage(`--keys: cannot read a JSON file ${JSON.stringify(file)}: ${err.message}`);
  }
  if (!doc || !Array.isArray(doc.keys) || doc.keys.length === 0) {
    usage('--keys: expected {"keys": [ ...at least one private JWK... ]}');
  }
  doc.keys.forEach((k, i) => {
    if (!k || typeof k.kid !== 'string' || !k.kid || typeof k.alg !== 'string' || !k.alg) {
      usage(`--keys: key ${i} needs a kid and an alg`);
    }
  });
  return doc.keys.map((k) => ({ use: 'sig', ...k }));
}

let signingKeys;
if (args.keys) {
  signingKeys = loadKeys(args.keys);
} else {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  signingKeys = [{ ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: `testkit-${randomBytes(4).toString('hex')}` }];
}
// The first key's algorithm signs JWT access tokens and the `login` client's ID tokens.
const primaryAlg = signingKeys[0].alg;
const ALL_SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512', 'EdDSA'];

// Login (authorization code) clients: `login` with the first key's algorithm, and one per
// other algorithm of the key set (`login-es256`, ...). The redirect URI is never reached:
// the test reads the code from the Location header.
const REDIRECT_URI = 'http://127.0.0.1:9/cb';
const loginClients = {};
const loginAlgOf = {};
for (const alg of [primaryAlg, ...signingKeys.map((k) => k.alg)]) {
  const name = alg === primaryAlg ? 'login' : `login-${alg.toLowerCase()}`;
  if (!loginClients[name]) {
    loginClients[name] = {
      client_id: `testkit-${name}-${randomBytes(4).toString('hex')}`,
      client_secret: secret(),
      redirect_uri: REDIRECT_URI,
      id_token_signed_response_alg: alg,
    };
    loginAlgOf[loginClients[name].client_id] = alg;
  }
}

// --- stats of the token endpoint -------------------------------------------------------

const stats = {
  token_requests: 0, last: null, jwks_requests: 0, discovery_requests: 0,
};

function paramsWithoutSecret(body) {
  const out = {};
  for (const [k, v] of Object.entries(body || {})) {
    if (k !== 'client_secret') out[k] = v;
  }
  return out;
}

function authKind(ctx, body) {
  const h = ctx.get('authorization');
  if (/^basic\s/i.test(h)) return 'basic';
  if (body && typeof body.client_secret === 'string') return 'post';
  return 'none';
}

// --- the server ------------------------------------------------------------------------

const server = createServer();
server.keepAliveTimeout = 5000;

server.on('clientError', (err, socket) => {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
});

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

server.listen(args.port, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    clients: [
      ...Object.values(clients).map((c) => ({
        client_id: c.client_id,
        client_secret: c.client_secret,
        token_endpoint_auth_method: authOf[c.client_id],
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      })),
      ...Object.values(loginClients).map((c) => ({
        client_id: c.client_id,
        client_secret: c.client_secret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [c.redirect_uri],
        id_token_signed_response_alg: c.id_token_signed_response_alg,
      })),
    ],
    // Provider-level scopes: what a client_credentials request WITHOUT a resource may be
    // granted (unknown scopes are dropped silently by oidc-provider, not rejected).
    scopes: SCOPES,
    claims: { openid: ['sub'] },
    jwks: { keys: signingKeys },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    enabledJWA: { idTokenSigningAlgValues: ALL_SIGNING_ALGS },
    ttl: {
      ClientCredentials: args.tokenTtl,
      AccessToken: args.tokenTtl,
      IdToken: args.tokenTtl,
    },
    // Logins: a refresh token whenever the client may use the grant (no offline_access
    // scope needed), so that refresh_token is a grant type of the provider.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    features: {
      // The development login and consent pages: a script logs in any user name.
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // No resource in the request: no default, so the token is opaque (not a JWT).
        defaultResource: async () => undefined,
        useGrantedResource: async () => false,
        getResourceServerInfo: async (ctx, resourceIndicator) => {
          if (resourceIndicator !== RESOURCE) {
            throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
          }
          return {
            scope: SCOPES.join(' '),
            audience: RESOURCE,
            accessTokenTTL: args.tokenTtl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: primaryAlg } },
          };
        },
      },
    },
  });

  // --strict-client-auth: the secret only "matches" when it came by the client's
  // registered method (Authorization: Basic for client_secret_basic, the form otherwise).
  const tokenRequest = new AsyncLocalStorage();
  if (args.strictClientAuth) {
    const { compareClientSecret } = provider.Client.prototype;
    provider.Client.prototype.compareClientSecret = function strictCompare(actual) {
      const ctx = tokenRequest.getStore();
      if (ctx) {
        const usedBasic = /^basic\s/i.test(ctx.get('authorization'));
        if (usedBasic !== (this.clientAuthMethod === 'client_secret_basic')) return false;
      }
      return compareClientSecret.call(this, actual);
    };
  }

  // Never let a 500 go unnoticed, but log only the message (no request data).
  provider.on('server_error', (ctx, err) => {
    process.stderr.write(`oidc-provider server_error: ${err && err.message}\n`);
  });

  // Test-only endpoints and the token-endpoint counter, mounted before the provider.
  provider.use(async (ctx, next) => {
    if (ctx.path === '/__testkit/stats') {
      if (ctx.method !== 'GET') { ctx.status = 405; return; }
      ctx.set('cache-control', 'no-store');
      ctx.body = stats;
      return;
    }
    if (ctx.path === '/__testkit/reset') {
      if (ctx.method !== 'POST') { ctx.status = 405; return; }
      stats.token_requests = 0;
      stats.last = null;
      stats.jwks_requests = 0;
      stats.discovery_requests = 0;
      ctx.status = 204;
      return;
    }
    if (ctx.path === '/jwks') stats.jwks_requests += 1;
    if (ctx.path === '/.well-known/openid-configuration') stats.discovery_requests += 1;
    if (ctx.path !== '/token' || ctx.method !== 'POST') {
      await next();
      return;
    }
    stats.token_requests += 1;
    const record = { auth: authKind(ctx, null), params: {} };
    stats.last = record;
    try {
      await tokenRequest.run(ctx, next);
    } finally {
      // oidc-provider has parsed the form by now (ctx.oidc.body), unless the request was
      // rejected before that (e.g. wrong content-type): then the params stay {}.
      let body = ctx.oidc && ctx.oidc.body;
      if (!body || typeof body !== 'object') body = {};
      record.params = paramsWithoutSecret(body);
      record.auth = authKind(ctx, body);
    }
  });

  server.on('request', provider.callback());

  process.stdout.write(`${JSON.stringify({
    issuer,
    port,
    clients,
    login_clients: loginClients,
    redirect_uri: REDIRECT_URI,
    kids: signingKeys.map((k) => k.kid),
    resource: RESOURCE,
    scopes: SCOPES,
  })}\n`);
});
