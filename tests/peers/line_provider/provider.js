// provider.js - a local OpenID provider shaped like LINE Login v2.1, for
// tests/integration_db/test_sso_line.py (npm oidc-provider 9.13.3).
//
// LINE's paths (/oauth2/v2.1/authorize, /token, /verify, /certs), ID tokens
// HS256-signed with the client (channel) secret as LINE does for web login,
// client_secret_post, PKCE S256 required.  The dev interactions of
// oidc-provider are the login and consent pages (a test drives them with
// plain HTTP: POST prompt=login&login=SUB, then prompt=consent).
//
// Usage: node provider.js '{"clients": [{"client_id": "...", "client_secret": "...",
//                                        "redirect_uris": ["..."]}, ...]}'
// (one client per tenant's channel).
// Listens on 127.0.0.1 with a free port and prints {"port": N, "issuer": U}
// as its first line.  POST /_test/mode?m=MODE makes the next token
// responses' ID token wrong in one way (wrong_aud, wrong_iss, expired,
// wrong_nonce, alg_none, alg_es256, bad_sig, future_iat) until m=ok: the
// refusals the relying party must make.  native_es256 re-signs it ES256
// with the key /certs lists, as LINE does for native apps (and
// native_unknown_kid, native_hs256_pubkey, native_hs256_pem break that).
import { createServer } from 'node:http';
import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import Provider from 'oidc-provider';

const cfg = JSON.parse(process.argv[2] || '{}');
const secrets = new Map(cfg.clients.map((c) => [c.client_id, c.client_secret]));
let mode = 'ok';

const b64u = (buf) => Buffer.from(buf).toString('base64url');

// LINE signs native apps' ID tokens ES256 with a key of its JWKS (/certs).
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ecJwk = { ...ec.privateKey.export({ format: 'jwk' }), kid: 'line-es-1', use: 'sig', alg: 'ES256' };
const ecPublic = { ...ec.publicKey.export({ format: 'jwk' }), kid: 'line-es-1', use: 'sig', alg: 'ES256' };

function es256(payload, kid) {
  const input = `${b64u(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid }))}.${b64u(JSON.stringify(payload))}`;
  const sig = sign('sha256', Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64u(sig)}`;
}

function hs256(header, payload, secret) {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

// Re-signs (or breaks) an ID token the provider issued, as `mode` says.
function tweak(idToken) {
  const payload = JSON.parse(Buffer.from(idToken.split('.')[1], 'base64url').toString());
  const now = Math.floor(Date.now() / 1000);
  const secret = secrets.get(payload.aud);
  switch (mode) {
    case 'wrong_aud': payload.aud = '9999999999'; break;
    case 'wrong_iss': payload.iss = 'https://evil.example'; break;
    case 'expired': payload.iat = now - 7200; payload.exp = now - 3600; break;
    case 'future_iat': payload.iat = now + 3600; payload.exp = now + 7200; break;
    case 'wrong_nonce': payload.nonce = 'not-the-nonce'; break;
    case 'alg_none':
      return `${b64u(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64u(JSON.stringify(payload))}.`;
    case 'alg_es256': return hs256({ alg: 'ES256', typ: 'JWT' }, payload, secret).replace(
      /^[^.]+/, b64u(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: 'x' })));
    case 'bad_sig': return hs256({ alg: 'HS256', typ: 'JWT' }, payload, `${secret}x`);
    // native apps: ES256 by LINE's key; an unknown kid; alg confusion with
    // the public key (its JWK JSON, and its PEM) as an HMAC secret
    case 'native_es256': return es256(payload, 'line-es-1');
    case 'native_unknown_kid': return es256(payload, 'line-es-9');
    case 'native_hs256_pubkey':
      return hs256({ alg: 'HS256', typ: 'JWT', kid: 'line-es-1' }, payload, JSON.stringify(ecPublic));
    case 'native_hs256_pem':
      return hs256({ alg: 'HS256', typ: 'JWT', kid: 'line-es-1' }, payload,
        ec.publicKey.export({ format: 'pem', type: 'spki' }));
    default: return idToken;
  }
  return hs256({ alg: 'HS256', typ: 'JWT' }, payload, secret);
}

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: cfg.clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: c.redirect_uris,
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'HS256',
    })),
    routes: {
      authorization: '/oauth2/v2.1/authorize',
      token: '/oauth2/v2.1/token',
      introspection: '/oauth2/v2.1/verify',
      revocation: '/oauth2/v2.1/revoke',
      jwks: '/oauth2/v2.1/certs',
      userinfo: '/v2/profile',
    },
    enabledJWA: { idTokenSigningAlgValues: ['HS256', 'ES256'] },
    jwks: { keys: [ecJwk] },
    pkce: { required: () => true },
    scopes: ['openid', 'profile', 'email'],
    claims: { openid: ['sub'], profile: ['name', 'picture'], email: ['email'] },
    features: { introspection: { enabled: true }, revocation: { enabled: true } },
    cookies: { keys: ['line-provider-test-cookie-key'] },
    async findAccount(ctx, sub) {
      return { accountId: sub, async claims() { return { sub, name: `LINE user ${sub}` }; } };
    },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  provider.use(async (ctx, next) => {
    if (ctx.path === '/_test/mode' && ctx.method === 'POST') {
      mode = ctx.query.m || 'ok';
      ctx.body = { mode };
      return;
    }
    await next();
    if (ctx.path === '/oauth2/v2.1/token' && ctx.status === 200 && ctx.body && ctx.body.id_token) {
      ctx.body = { ...ctx.body, id_token: tweak(ctx.body.id_token) };
    }
  });
  server.on('request', provider.callback());
  console.log(JSON.stringify({ port, issuer }));
});
