-- The storage design not built, measured for comparison (README "Re-runs"): URL rows carrying the
-- last batch that saw them. A re-run with nothing changed must still touch every row once.
--   createdb scratch && psql scratch -f bench/reruns_last_seen.sql && dropdb scratch
CREATE TABLE url (id bigserial primary key, domain_id bigint, sitemap_id bigint, loc varchar(2048),
                  lastmod timestamptz, changefreq varchar(8), priority double precision, extras jsonb,
                  last_seen bigint);
INSERT INTO url (domain_id, sitemap_id, loc, lastmod, changefreq, priority, last_seen)
  SELECT 1, 1 + g / 50000, 'http://127.0.0.1:8797/products/' || (g / 50000) || '/item-' || g || '-'
         || (g::bigint * 7919 % 1000000007) || '.html', now() - (g || ' minutes')::interval, 'weekly', 0.5, 1
  FROM generate_series(0, 999999) g;
CREATE UNIQUE INDEX ON url (domain_id, loc);
CREATE INDEX ON url (domain_id, id);
VACUUM ANALYZE url;
SELECT 'bytes before', pg_total_relation_size('url');
\timing on
UPDATE url SET last_seen = 2 WHERE domain_id = 1;
\timing off
SELECT 'bytes after', pg_total_relation_size('url');
