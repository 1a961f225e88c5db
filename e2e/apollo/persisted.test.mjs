// Apollo Client against running Meridian gateways: the persisted-query link
// as dashboards use it, over real HTTP.
//
//   MERIDIAN_URL                 a gateway serving APQ (not persisted-only)
//   MERIDIAN_PERSISTED_ONLY_URL  a gateway with PERSISTED_ONLY=true
//   MERIDIAN_MANIFEST            the manifest both load (default: the
//                                repository's testdata/persisted/manifest.json)
//
// e2e/apollo_test.go starts both gateways and runs this with `node --test`;
// a suite whose URL is unset is skipped.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { generatePersistedQueryIdsFromManifest } from "@apollo/persisted-query-lists";

const apqURL = process.env.MERIDIAN_URL;
const persistedOnlyURL = process.env.MERIDIAN_PERSISTED_ONLY_URL;
const manifestPath =
  process.env.MERIDIAN_MANIFEST ??
  fileURLToPath(new URL("../../testdata/persisted/manifest.json", import.meta.url));
const operationsDir = new URL("../../testdata/persisted/", import.meta.url);

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

// recordingFetch is fetch that remembers every request body it sent and
// every response it got, so a test can tell what went over the wire.
function recordingFetch() {
  const calls = [];
  async function recorded(input, init = {}) {
    const response = await fetch(input, init);
    const text = await response.clone().text();
    calls.push({
      method: init.method ?? "GET",
      url: String(input),
      body: typeof init.body === "string" ? JSON.parse(init.body) : undefined,
      status: response.status,
      cacheControl: response.headers.get("cache-control"),
      response: JSON.parse(text),
    });
    return response;
  }
  return { fetch: recorded, calls };
}

function client(url, persistedLink, fetchImpl) {
  const http = new HttpLink({ uri: `${url}/graphql`, fetch: fetchImpl });
  return new ApolloClient({
    link: persistedLink ? ApolloLink.from([persistedLink, http]) : http,
    cache: new InMemoryCache(),
    // Every query goes to the server: these tests are about the wire.
    defaultOptions: { query: { fetchPolicy: "no-cache" } },
  });
}

function codes(error) {
  return (error?.errors ?? []).map((e) => e.extensions?.code);
}

// A query no test sends before, so the gateway cannot know its hash yet.
const categoriesQuery = gql`
  query ApolloCategories {
    categories {
      id
      name
    }
  }
`;

describe("automatic persisted queries", { skip: !apqURL && "MERIDIAN_URL is not set" }, () => {
  test("the first call registers the query after PERSISTED_QUERY_NOT_FOUND, the next sends the hash only", async () => {
    const { fetch: recorded, calls } = recordingFetch();
    const link = new PersistedQueryLink({ sha256, useGETForHashedQueries: false });
    const apollo = client(apqURL, link, recorded);

    const first = await apollo.query({ query: categoriesQuery });
    assert.ok(first.data.categories.length >= 8, "categories answered");
    assert.equal(calls.length, 2, "one miss, one registration");

    const [miss, registration] = calls;
    const hash = miss.body.extensions.persistedQuery.sha256Hash;
    assert.match(hash, /^[0-9a-f]{64}$/);
    assert.equal(miss.body.query, undefined, "the first request sends the hash only");
    assert.equal(miss.response.errors[0].extensions.code, "PERSISTED_QUERY_NOT_FOUND");
    assert.equal(miss.response.errors[0].message, "PersistedQueryNotFound");
    assert.equal(typeof registration.body.query, "string", "the retry sends the query");
    assert.equal(registration.body.extensions.persistedQuery.sha256Hash, hash);
    assert.equal(sha256(registration.body.query), hash, "the hash is the query's SHA-256");
    assert.equal(registration.response.errors, undefined);

    const second = await apollo.query({ query: categoriesQuery });
    assert.deepEqual(second.data, first.data);
    assert.equal(calls.length, 3, "the second call is one request");
    assert.equal(calls[2].body.query, undefined, "the second call has no query in its body");
    assert.equal(calls[2].body.extensions.persistedQuery.sha256Hash, hash);
    for (const call of calls) {
      assert.equal(call.method, "POST");
      assert.equal(call.cacheControl, "private, no-store", "POST is never cacheable");
    }

    // The gateway remembers, not the link: a new client's first call is
    // hash-only and answered at once.
    const fresh = recordingFetch();
    const other = client(apqURL, new PersistedQueryLink({ sha256 }), fresh.fetch);
    const again = await other.query({ query: categoriesQuery });
    assert.deepEqual(again.data, first.data);
    assert.equal(fresh.calls.length, 1);
    assert.equal(fresh.calls[0].body.query, undefined);
  });

  test("a query under someone else's hash is refused", async () => {
    const response = await fetch(`${apqURL}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query: "{ categories { id } }",
        extensions: { persistedQuery: { version: 1, sha256Hash: sha256("{ categories { name } }") } },
      }),
    });
    const body = await response.json();
    assert.equal(body.data ?? null, null, "nothing was executed");
    assert.equal(body.errors[0].extensions.code, "PERSISTED_QUERY_HASH_MISMATCH");
  });
});

describe("persisted-only mode", { skip: !persistedOnlyURL && "MERIDIAN_PERSISTED_ONLY_URL is not set" }, () => {
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  const categories = manifest.operations.find((op) => op.name === "Categories");
  // The dashboard's own document, as its build ships it.
  const categoriesDocument = gql(readFileSync(new URL("Categories.graphql", operationsDir), "utf8"));

  test("a manifest operation is sent by its manifest id and answered", async () => {
    assert.ok(categories, "the manifest lists Categories");
    const { fetch: recorded, calls } = recordingFetch();
    // Apollo's way to send trusted documents: ids come from the manifest by
    // operation name, because the client prints documents its own way.
    const link = new PersistedQueryLink(
      generatePersistedQueryIdsFromManifest({ loadManifest: () => manifest }),
    );
    const apollo = client(persistedOnlyURL, link, recorded);

    const result = await apollo.query({ query: categoriesDocument });
    assert.ok(result.data.categories.length >= 8, "categories answered");
    assert.equal(calls.length, 1);
    assert.equal(calls[0].body.query, undefined, "hash only");
    assert.equal(calls[0].body.extensions.persistedQuery.sha256Hash, categories.id);
  });

  test("the manifest's body sent as a raw document is allowed", async () => {
    const response = await fetch(`${persistedOnlyURL}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: categories.body }),
    });
    const body = await response.json();
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    assert.ok(body.data.categories.length >= 8);
  });

  test("an ad-hoc query is refused with PERSISTED_QUERY_NOT_ALLOWED", async () => {
    const { fetch: recorded, calls } = recordingFetch();
    const apollo = client(persistedOnlyURL, null, recorded);
    await assert.rejects(apollo.query({ query: categoriesQuery }), (error) => {
      assert.deepEqual(codes(error), ["PERSISTED_QUERY_NOT_ALLOWED"]);
      return true;
    });
    assert.equal(calls.length, 1);
    assert.equal(calls[0].response.data ?? null, null, "nothing was executed");
  });

  test("APQ cannot register an ad-hoc query", async () => {
    const { fetch: recorded, calls } = recordingFetch();
    const apollo = client(persistedOnlyURL, new PersistedQueryLink({ sha256 }), recorded);
    await assert.rejects(apollo.query({ query: categoriesQuery }), (error) => {
      assert.deepEqual(codes(error), ["PERSISTED_QUERY_NOT_ALLOWED"]);
      return true;
    });
    // Not PERSISTED_QUERY_NOT_FOUND, so the link does not even try to
    // register; a registration sent by hand is refused as well.
    assert.equal(calls.length, 1);
    const query = "query Sneaky { categories { id } }";
    const response = await fetch(`${persistedOnlyURL}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query, extensions: { persistedQuery: { version: 1, sha256Hash: sha256(query) } } }),
    });
    const body = await response.json();
    assert.equal(body.errors[0].extensions.code, "PERSISTED_QUERY_NOT_ALLOWED");
  });
});
