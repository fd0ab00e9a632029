//! Response templates in the store: the predefined ones come with every new instance and,
//! through the migration that added the table, with every instance that existed before it;
//! names are unique per instance on create and rename.

use crate::both_backends;
use crate::helpers::{Backend, TestStore};
use rivia_core::templates::PREDEFINED;
use rivia_store::StoreError;
use rivia_store::templates::TemplateValues;
use rivia_store::testing::Val;

both_backends!(
    a_new_instance_has_the_predefined_templates,
    the_migration_gives_existing_instances_the_predefined_templates,
    names_are_unique_per_instance_on_create_and_rename,
);

fn names(list: &[rivia_store::templates::ResponseTemplate]) -> Vec<&str> {
    list.iter().map(|t| t.name.as_str()).collect()
}

async fn all(t: &TestStore, instance_id: i64) -> Vec<rivia_store::templates::ResponseTemplate> {
    let keyset = rivia_core::page::Keyset {
        sql_descending: false,
        bound: None,
        reverse_after: false,
        limit: 100,
    };
    t.store
        .list_templates(instance_id, &keyset)
        .await
        .expect("list")
}

async fn a_new_instance_has_the_predefined_templates(backend: Backend) {
    let Some(t) = TestStore::new(backend).await else {
        return;
    };
    let inst = t.instance("first").await;
    let list = all(&t, inst.id).await;
    assert_eq!(names(&list), ["objects_html_table", "objects_csv"]);
    for (stored, predefined) in list.iter().zip(PREDEFINED) {
        assert_eq!(stored.content, predefined.content);
        assert_eq!(stored.content_type, predefined.content_type);
        assert_eq!(stored.context, predefined.context);
    }
}

async fn the_migration_gives_existing_instances_the_predefined_templates(backend: Backend) {
    let Some(mut t) = TestStore::new(backend).await else {
        return;
    };
    let old = t.instance("older").await;
    let kept = t.instance("kept").await;
    // The state of a release before templates: no table, the migration not recorded.
    let version = match t.backend {
        Backend::Sqlite => 8,
        Backend::Postgres => 9,
    };
    t.store
        .raw()
        .write(vec![
            ("DROP TABLE response_templates".into(), vec![]),
            (
                "DELETE FROM schema_migrations WHERE version = $1".into(),
                vec![Val::Int(version)],
            ),
        ])
        .await
        .expect("downgrade");
    t.reopen().await;
    assert_eq!(
        names(&all(&t, old.id).await),
        ["objects_html_table", "objects_csv"]
    );
    assert_eq!(
        names(&all(&t, kept.id).await),
        ["objects_html_table", "objects_csv"]
    );
    // Applied once: a second start changes nothing.
    t.reopen().await;
    assert_eq!(all(&t, old.id).await.len(), 2);
}

async fn names_are_unique_per_instance_on_create_and_rename(backend: Backend) {
    let Some(t) = TestStore::new(backend).await else {
        return;
    };
    let a = t.instance("alpha").await;
    let b = t.instance("bravo").await;
    let values = TemplateValues {
        content: "{{ x }}".into(),
        content_type: "text/plain".into(),
        context: "{}".into(),
        description: String::new(),
    };
    let mine = t
        .store
        .create_template(a.id, "mine", &values)
        .await
        .expect("create");
    let taken = t.store.create_template(a.id, "objects_csv", &values).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    t.store
        .create_template(b.id, "mine", &values)
        .await
        .expect("same name, other instance");
    let clash = t.store.rename_template(a.id, mine.id, "objects_csv").await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    let renamed = t
        .store
        .rename_template(a.id, mine.id, "yours")
        .await
        .expect("rename")
        .expect("exists");
    assert_eq!(renamed.name, "yours");
    assert!(t.store.template(a.id, "mine").await.expect("db").is_none());
    assert!(
        t.store
            .delete_template(a.id, mine.id)
            .await
            .expect("delete")
    );
    assert!(!t.store.delete_template(a.id, mine.id).await.expect("again"));
}
