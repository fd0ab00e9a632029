-- Object ids on PostgreSQL come from one sequence per instance, rivia_objects_<instance id>
-- (created with the instance, dropped with it). nextval takes no row lock, so concurrent
-- creates in an instance no longer queue on its instance_counters row until each other's
-- COMMIT. Ids stay unique and increasing per instance; a rolled-back create leaves a gap.
-- Existing instances continue after the last id their counter handed out.
DO $$
DECLARE
    r RECORD;
BEGIN
    FOR r IN
        SELECT i.id, COALESCE(c.value, 0) AS last_id
        FROM instances i
        LEFT JOIN instance_counters c ON c.instance_id = i.id AND c.kind = 'objects'
    LOOP
        EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I START WITH %s',
                       'rivia_objects_' || r.id, r.last_id + 1);
    END LOOP;
END
$$;
-- A class's objects_count is computed when the class is read instead of being kept on its
-- classes row (which every create and delete locked until COMMIT): exact up to 1,000 live
-- objects, above that the planner's row estimate (Syncano's count_estimate), never below
-- 1,001. The table name is built from the integer id only. A class whose table was dropped
-- by a concurrent delete counts 0. VOLATILE: EXPLAIN is not allowed in a STABLE function.
CREATE OR REPLACE FUNCTION rivia_objects_count(class_id BIGINT)
RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    exact BIGINT;
    plan_line TEXT;
    estimate BIGINT;
BEGIN
    EXECUTE format('SELECT COUNT(*) FROM (SELECT 1 FROM %I LIMIT 1001) AS capped', 'c' || class_id)
        INTO exact;
    IF exact <= 1000 THEN
        RETURN exact;
    END IF;
    FOR plan_line IN EXECUTE format('EXPLAIN SELECT 1 FROM %I', 'c' || class_id) LOOP
        estimate := substring(plan_line FROM ' rows=([[:digit:]]+)')::BIGINT;
        EXIT WHEN estimate IS NOT NULL;
    END LOOP;
    RETURN GREATEST(COALESCE(estimate, 0), 1001);
EXCEPTION WHEN undefined_table THEN
    RETURN 0;
END
$$;
