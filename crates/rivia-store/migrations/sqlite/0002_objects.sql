-- Data objects: nothing to change in the SQLite schema; `rivia_geo_km` is registered on
-- every connection in sqlite.rs. This file keeps migration versions aligned across dialects.
SELECT 1;
