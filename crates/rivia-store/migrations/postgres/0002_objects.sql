-- Data objects: SQL functions that SQLite gets as Rust functions (sqlite.rs), so that both
-- dialects run the same query text.
-- Haversine distance in kilometres between two (longitude, latitude) points.
CREATE OR REPLACE FUNCTION rivia_geo_km(lon1 DOUBLE PRECISION, lat1 DOUBLE PRECISION,
                                        lon2 DOUBLE PRECISION, lat2 DOUBLE PRECISION)
RETURNS DOUBLE PRECISION LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT 2 * 6371.0088 * asin(least(1.0, sqrt(
        power(sin(radians(lat2 - lat1) / 2), 2)
        + cos(radians(lat1)) * cos(radians(lat2)) * power(sin(radians(lon2 - lon1) / 2), 2))))
$$;
