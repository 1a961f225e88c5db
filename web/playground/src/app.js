// Meridian playground: mounts GraphiQL (loaded beforehand as UMD globals
// React, ReactDOM and GraphiQL) against the gateway's same-origin GraphQL
// endpoint. It lives in its own file rather than inline so the page can be
// served with a Content-Security-Policy that forbids inline scripts.
(function () {
  'use strict';

  var LOCALE_KEY = 'meridian:playground:locale';

  var DEFAULT_QUERY = [
    '# Accept-Language: pick it above.',
    '# Authorization: Headers tab below.',
    'query CatalogPage($q: String) {',
    '  search(query: $q, first: 5) {',
    '    totalCount',
    '    edges {',
    '      node {',
    '        id',
    '        sku',
    '        name',
    '        price { amount currency formatted }',
    '        category { name }',
    '      }',
    '    }',
    '    pageInfo { hasNextPage endCursor }',
    '  }',
    '}',
    ''
  ].join('\n');

  var DEFAULT_VARIABLES = JSON.stringify({ q: '精华' }, null, 2);

  var mount = document.getElementById('meridian-graphiql');
  var localeSelect = document.getElementById('meridian-locale');
  var endpoint = mount.getAttribute('data-endpoint') || '/graphql';

  // Remember the chosen locale across reloads; storage may be unavailable
  // (private windows, disabled cookies), which must not break the page.
  try {
    var saved = window.localStorage.getItem(LOCALE_KEY);
    if (saved && localeSelect.querySelector('option[value="' + saved + '"]')) {
      localeSelect.value = saved;
    }
  } catch (e) { /* keep the default locale */ }
  localeSelect.addEventListener('change', function () {
    try {
      window.localStorage.setItem(LOCALE_KEY, localeSelect.value);
    } catch (e) { /* not persisted; the selection still applies */ }
  });

  // fetcher is GraphiQL's transport. The locale is read on every request so
  // switching it needs no reload. Headers from GraphiQL's headers editor are
  // applied last: a header typed there deliberately (even Accept-Language)
  // wins over the selector. Headers is case-insensitive, so
  // "accept-language" replaces rather than duplicates.
  function fetcher(params, opts) {
    var headers = new Headers({
      'Content-Type': 'application/json',
      'Accept': 'application/graphql-response+json, application/json;q=0.9',
      'Accept-Language': localeSelect.value
    });
    var extra = opts && opts.headers;
    if (extra && typeof extra === 'object') {
      Object.keys(extra).forEach(function (name) {
        var value = extra[name];
        if (value !== undefined && value !== null) {
          headers.set(name, String(value));
        }
      });
    }
    return fetch(endpoint, {
      method: 'POST',
      headers: headers,
      body: JSON.stringify(params),
      credentials: 'same-origin'
    }).then(function (res) {
      return res.text().then(function (text) {
        try {
          return JSON.parse(text);
        } catch (e) {
          // A proxy error page or a plain-text failure: show it in the
          // result pane instead of an opaque parse error.
          return {
            errors: [{
              message: 'HTTP ' + res.status + ' ' + res.statusText + ': ' + text.slice(0, 2000)
            }]
          };
        }
      });
    });
  }

  var props = {
    fetcher: fetcher,
    // Also what a new tab starts with.
    defaultQuery: DEFAULT_QUERY,
    defaultEditorToolsVisibility: 'variables',
    isHeadersEditorEnabled: true,
    // Bearer tokens typed in the headers editor stay in memory only.
    shouldPersistHeaders: false
  };
  // GraphiQL 3 takes the first tab's variables only from its `variables`
  // prop or its own storage, never from defaultQuery's side; and a prop
  // that disagrees with the stored tabs opens an extra tab on every load.
  // So on a first visit (nothing stored under GraphiQL's "graphiql:" keys)
  // the example is written where GraphiQL itself would have saved it, and
  // from then on GraphiQL restores the developer's own edits.
  try {
    var storage = window.localStorage;
    if (storage.getItem('graphiql:tabState') === null && storage.getItem('graphiql:query') === null) {
      storage.setItem('graphiql:query', DEFAULT_QUERY);
      storage.setItem('graphiql:variables', DEFAULT_VARIABLES);
    }
  } catch (e) {
    // No storage: nothing persists, so the prop cannot disagree with it.
    props.variables = DEFAULT_VARIABLES;
  }

  var h = React.createElement;
  var app = h(GraphiQL, props, h(GraphiQL.Logo, null, 'Meridian'));

  ReactDOM.createRoot(mount).render(app);
})();
