// A real OpenID provider for the e-ID sign-in tests: node-oidc-provider with its own login and
// consent pages (devInteractions: any login name, any password), one confidential test client
// and accounts whose claims follow the Swedish OIDC profile.
//
//   PORT=0 REDIRECT_URIS=http://127.0.0.1:8000/login/eid/callback node server.mjs
//
// Prints one line, "listening <issuer>", when it is ready.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const NUMBER_CLAIM = 'https://id.oidc.se/claim/personalIdentityNumber';
const NUMBER_SCOPE = 'https://id.oidc.se/scope/naturalPersonNumber';

// Fictitious people (the numbers are Skatteverket-style test numbers).
const ACCOUNTS = {
  tolvan: { given_name: 'Tolvan', family_name: 'Tolvansson', number: '191212121212' },
  anna: { given_name: 'Anna', family_name: 'Andersson', number: '198112289874' },
  bertil: { given_name: 'Bertil', family_name: 'Berg', number: '200001012384' },
  nonumber: { given_name: 'Nils', family_name: 'Nummerlös', number: null },
};

const port = Number(process.env.PORT || 0);
const redirectUris = (process.env.REDIRECT_URIS || '').split(',').filter(Boolean);
const clientId = process.env.CLIENT_ID || 'healthpod-test';
const clientSecret = process.env.CLIENT_SECRET || 'healthpod-test-secret-0123456789';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key-1', use: 'sig', alg: 'RS256' };

const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true, methods: ['S256'] },
    scopes: ['openid', 'profile', NUMBER_SCOPE],
    claims: {
      openid: ['sub'],
      profile: ['given_name', 'family_name', 'name'],
      [NUMBER_SCOPE]: [NUMBER_CLAIM],
    },
    conformIdTokenClaims: false, // the claims go in the ID token, as e-ID brokers send them
    features: { devInteractions: { enabled: true } },
    async findAccount(ctx, id) {
      const person = ACCOUNTS[id];
      if (!person) return undefined;
      return {
        accountId: id,
        async claims() {
          const claims = {
            sub: id,
            given_name: person.given_name,
            family_name: person.family_name,
            name: `${person.given_name} ${person.family_name}`,
          };
          if (person.number) claims[NUMBER_CLAIM] = person.number;
          return claims;
        },
      };
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(`listening ${issuer}\n`);
});
