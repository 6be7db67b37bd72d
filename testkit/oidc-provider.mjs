#!/usr/bin/env node
// A real OAuth 2.0 / OpenID Connect authorization server (panva/oidc-provider 8.x) for
// warrant's compatibility tests: client-credentials (M2M) grant, two confidential
// clients (client_secret_basic and client_secret_post), JWT access tokens for one
// resource indicator, end-user logins (authorization code + PKCE through oidc-provider's
// development interactions: any login name becomes the `sub`, any password), clients
// registered at run time for 3-legged OAuth (RFC 7591 dynamic client registration at
// /reg: the redirect URI is warrant's callback URL, known only once the credential
// provider exists; refresh tokens, rotated by default), and test-only introspection
// endpoints (/__testkit/stats, /__testkit/reset, /__testkit/issued,
// /__testkit/authorizations).
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
// The API that tokens of registered (3LO) clients are for when no resource is asked for:
// opaque access tokens whose `scope` is what the user consented to of `read write admin`.
const USER_RESOURCE = 'https://user-api.warrant-testkit.example';
const SCOPES = ['read', 'write', 'admin'];
// Members of a registration request that are the test kit's own (RFC 7591 allows
// extensions): the access token lifetime of the client's tokens, and whether its refresh
// tokens rotate (default true: a used refresh token is dead, and presenting it again
// makes oidc-provider revoke the whole grant).
const TTL_MEMBER = 'testkit_access_token_ttl';
const ROTATE_MEMBER = 'testkit_rotate_refresh_token';

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
  token_requests: 0,
  last: null,
  jwks_requests: 0,
  discovery_requests: 0,
  // token-endpoint requests per grant_type (as sent, successful or not; "none" when the
  // request had no grant_type oidc-provider could parse)
  grants: {},
  // the same per client id (the authenticated client, else the client_id the request
  // named in the form or in Authorization: Basic; "none" when it named none)
  grants_by_client: {},
  // authorization requests (GET/POST /auth) and dynamic client registrations (POST /reg)
  authorization_requests: 0,
  registrations: 0,
};

// What the authorization requests asked (their query or form, every parameter), newest
// last, at most MAX_KEPT; cleared by /__testkit/reset.
const MAX_KEPT = 1000;
const authorizations = [];
// Every authorization code, access token and refresh token handed out, with its client
// and grant: {codes: [{client_id, value}], access_tokens: [{client_id, grant_type, value}],
// refresh_tokens: [...]}. Not cleared by /__testkit/reset (a test may scan logs for the
// tokens of earlier tests); only over HTTP, never printed.
const issued = { codes: [], access_tokens: [], refresh_tokens: [] };
function keep(list, item) {
  list.push(item);
  if (list.length > MAX_KEPT * 10) list.splice(0, list.length - MAX_KEPT * 10);
}
// client ids registered at run time (the static clients are never in here)
const registered = new Set();
// grant ids per client id (from oidc-provider's grant.saved events), for
// /__testkit/revoke-grants
const grantsOf = new Map();

function paramsWithoutSecret(body) {
  const out = {};
  for (const [k, v] of Object.entries(body || {})) {
    if (k !== 'client_secret') out[k] = v;
  }
  return out;
}

function requestClientId(ctx, body) {
  if (ctx.oidc && ctx.oidc.client) return ctx.oidc.client.clientId;
  const h = ctx.get('authorization');
  if (/^basic\s/i.test(h)) {
    try {
      const pair = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
      return decodeURIComponent(pair.split(':')[0].replace(/\+/g, ' ')) || 'none';
    } catch (err) {
      return 'none';
    }
  }
  return typeof body.client_id === 'string' && body.client_id ? body.client_id : 'none';
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
    // 3LO clients register themselves (RFC 7591; open registration, no initial access
    // token), with the test kit's extension members for their token lifetime and rotation.
    extraClientMetadata: {
      properties: [TTL_MEMBER, ROTATE_MEMBER],
      validator(ctx, key, value) {
        if (value === undefined || value === null) return;
        if (key === TTL_MEMBER && !(Number.isInteger(value) && value >= 1 && value <= 315360000)) {
          throw new errors.InvalidClientMetadata(`${TTL_MEMBER} must be an integer number of seconds`);
        }
        if (key === ROTATE_MEMBER && typeof value !== 'boolean') {
          throw new errors.InvalidClientMetadata(`${ROTATE_MEMBER} must be a boolean`);
        }
      },
    },
    // Registered clients: rotation unless they opted out. The others: oidc-provider's
    // default policy (rotate public clients' tokens, and tokens past 70% of their life).
    rotateRefreshToken(ctx) {
      const { RefreshToken: refreshToken, Client: client } = ctx.oidc.entities;
      if (registered.has(client.clientId)) return client[ROTATE_MEMBER] !== false;
      if (refreshToken.totalLifetime() >= 365.25 * 24 * 60 * 60) return false;
      if (client.clientAuthMethod === 'none' && !refreshToken.isSenderConstrained()) return true;
      return refreshToken.ttlPercentagePassed() >= 70;
    },
    // Provider-level scopes: what a client_credentials request WITHOUT a resource may be
    // granted (unknown scopes are dropped silently by oidc-provider, not rejected).
    scopes: SCOPES,
    claims: { openid: ['sub'] },
    jwks: { keys: signingKeys },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    enabledJWA: { idTokenSigningAlgValues: ALL_SIGNING_ALGS },
    ttl: {
      ClientCredentials: args.tokenTtl,
      // a registered client's own lifetime, else --token-ttl
      AccessToken: (ctx, token, client) => {
        const own = client && client[TTL_MEMBER];
        return Number.isInteger(own) ? own : args.tokenTtl;
      },
      IdToken: args.tokenTtl,
    },
    // Logins: a refresh token whenever the client may use the grant (no offline_access
    // scope needed), so that refresh_token is a grant type of the provider.
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    features: {
      // The development login and consent pages: a script logs in any user name.
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      registration: { enabled: true, initialAccessToken: false },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // No resource in the request: no default, so the token is opaque (not a JWT).
        // Registered (3LO) clients: USER_RESOURCE, so their tokens carry the consented
        // `read write admin` scopes (oidc-provider would otherwise grant a userinfo token
        // with OpenID scopes only), and the granted resource is used at the token endpoint.
        defaultResource: async (ctx, client, oneOf) => {
          if (client && registered.has(client.clientId)) return oneOf || USER_RESOURCE;
          return undefined;
        },
        useGrantedResource: async (ctx) => !!(ctx.oidc.client
          && registered.has(ctx.oidc.client.clientId)),
        getResourceServerInfo: async (ctx, resourceIndicator) => {
          if (resourceIndicator === USER_RESOURCE) {
            return {
              scope: SCOPES.join(' '),
              audience: USER_RESOURCE,
              accessTokenFormat: 'opaque',
            };
          }
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

  provider.on('grant.saved', (grant) => {
    if (!grantsOf.has(grant.clientId)) grantsOf.set(grant.clientId, new Set());
    grantsOf.get(grant.clientId).add(grant.jti);
  });

  // What a user does with "revoke access" at a real provider: every grant of the client
  // and every code and token issued under it are gone; the next refresh is invalid_grant.
  async function revokeGrants(clientId) {
    const ids = [...(grantsOf.get(clientId) || [])];
    await Promise.all(ids.flatMap((id) => [
      provider.AccessToken.revokeByGrantId(id),
      provider.RefreshToken.revokeByGrantId(id),
      provider.AuthorizationCode.revokeByGrantId(id),
      provider.Grant.adapter.destroy(id),
    ]));
    grantsOf.delete(clientId);
    return ids.length;
  }

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
      stats.grants = {};
      stats.grants_by_client = {};
      stats.authorization_requests = 0;
      stats.registrations = 0;
      authorizations.length = 0;
      ctx.status = 204;
      return;
    }
    if (ctx.path === '/__testkit/revoke-grants') {
      if (ctx.method !== 'POST') { ctx.status = 405; return; }
      const clientId = new URLSearchParams(ctx.querystring).get('client_id');
      if (!clientId) { ctx.status = 400; ctx.body = { error: 'client_id required' }; return; }
      ctx.body = { revoked: await revokeGrants(clientId) };
      return;
    }
    if (ctx.path === '/__testkit/issued') {
      if (ctx.method !== 'GET') { ctx.status = 405; return; }
      ctx.set('cache-control', 'no-store');
      ctx.body = issued;
      return;
    }
    if (ctx.path === '/__testkit/authorizations') {
      if (ctx.method !== 'GET') { ctx.status = 405; return; }
      ctx.set('cache-control', 'no-store');
      ctx.body = authorizations;
      return;
    }
    if (ctx.path === '/jwks') stats.jwks_requests += 1;
    if (ctx.path === '/.well-known/openid-configuration') stats.discovery_requests += 1;
    if (ctx.path === '/reg' && ctx.method === 'POST') {
      stats.registrations += 1;
      await next();
      if (ctx.status === 201 && ctx.body && typeof ctx.body.client_id === 'string') {
        registered.add(ctx.body.client_id);
      }
      return;
    }
    if (ctx.path === '/auth' && (ctx.method === 'GET' || ctx.method === 'POST')) {
      stats.authorization_requests += 1;
      const record = { method: ctx.method, params: Object.fromEntries(new URLSearchParams(ctx.querystring)) };
      authorizations.push(record);
      if (authorizations.length > MAX_KEPT) authorizations.shift();
      try {
        await next();
      } finally {
        if (ctx.method === 'POST' && ctx.oidc && ctx.oidc.body && typeof ctx.oidc.body === 'object') {
          record.params = { ...ctx.oidc.body };
        }
        keepCode(ctx);
      }
      return;
    }
    if (ctx.path !== '/token' || ctx.method !== 'POST') {
      await next();
      // codes reach the client by the redirect at the end of an interaction (/auth/:uid)
      keepCode(ctx);
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
      const grant = typeof body.grant_type === 'string' ? body.grant_type : 'none';
      stats.grants[grant] = (stats.grants[grant] || 0) + 1;
      const who = requestClientId(ctx, body);
      const mine = stats.grants_by_client[who] || (stats.grants_by_client[who] = {});
      mine[grant] = (mine[grant] || 0) + 1;
      const out = ctx.body;
      if (ctx.status === 200 && out && typeof out === 'object') {
        const clientId = ctx.oidc && ctx.oidc.client ? ctx.oidc.client.clientId : null;
        if (typeof out.access_token === 'string') {
          keep(issued.access_tokens, { client_id: clientId, grant_type: grant, value: out.access_token });
        }
        if (typeof out.refresh_token === 'string') {
          keep(issued.refresh_tokens, { client_id: clientId, grant_type: grant, value: out.refresh_token });
        }
      }
    }
  });

  // An authorization response (a redirect to the client) that carries a code: keep it.
  function keepCode(ctx) {
    if (ctx.status < 300 || ctx.status > 399) return;
    const location = ctx.response.get('location');
    if (!location || !location.includes('code=')) return;
    try {
      const url = new URL(location);
      const code = url.searchParams.get('code');
      if (code) {
        const clientId = ctx.oidc && ctx.oidc.client ? ctx.oidc.client.clientId : null;
        keep(issued.codes, { client_id: clientId, value: code });
      }
    } catch (err) {
      // not an absolute URL: not a redirect to a client
    }
  }

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
