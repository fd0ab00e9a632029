//! The access matrix (issue #13 §4): every route of the route table × every kind of
//! caller, each answer judged against the table below, on both backends.
//!
//! A cell is `A` (allowed: the caller got past authentication and permission, so the
//! answer is neither 401/403 nor a 404 of a target that exists, nor a 5xx) or `D`
//! (denied: 401, 403, or 404 for something hidden from the caller, with a `{"detail"}`
//! body). Whatever the cell, no answer may carry data the caller must not see: the
//! fixture plants markers (a private object's title, a private channel message, another
//! instance's data, every key) and [`World::may_see`] says who may see which.
//!
//! **A new route needs a row**: `every_route_has_a_row` fails, naming the rows to add.
//! Copy the suggested line into [`MATRIX`], write one letter per caller, and, when the
//! route has a path parameter the fixture does not know yet, teach [`World::param`] (and
//! [`build_world`]) about it. Non-GET requests send `{}` unless [`body_for`] says
//! otherwise; an allowed write that succeeded (2xx) rebuilds the fixture, so the next
//! cell starts from the same world.

use crate::helpers::{Backend, TestApp, store_user};
use axum::http::StatusCode;
use rivia_core::perms::Role;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

crate::both_backends!(backend, every_cell_of_the_access_matrix_holds);

/// The kinds of caller, in the order of a row's letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// The instance's owner.
    Owner,
    /// Admins with role full, write, read in the instance.
    Full,
    Write,
    Read,
    /// The owner of another instance, with no role in this one.
    Stranger,
    /// No credentials at all.
    NoKey,
    /// API keys: no flag, then each flag alone.
    Key,
    IgnoreAcl,
    UserCreate,
    GroupCreate,
    AnonRead,
    /// The flagless key with user alice's key (alice owns the private object and is in
    /// the group), then with bob's (nobody special).
    User,
    OtherUser,
}

use Caller::*;

const CALLERS: [Caller; 13] = [
    Owner,
    Full,
    Write,
    Read,
    Stranger,
    NoKey,
    Key,
    IgnoreAcl,
    UserCreate,
    GroupCreate,
    AnonRead,
    User,
    OtherUser,
];

/// One row: method, route template as registered, and one letter per caller in the order
/// `owner full write read | stranger | no-key | key ignore_acl user_create group_create
/// anon_read | user other_user` (spaces and `|` are ignored).
type Row = (&'static str, &'static str, &'static str);

#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //                                                                 admins   strgr nokey  keys         users
    // Discovery and the account: no instance, so an instance role means nothing.
    ("get",    "/",                                                    "AAAA | A | A | AAAAA | AA"),
    ("get",    "/v1.1/",                                               "AAAA | A | A | AAAAA | AA"),
    ("post",   "/v1.1/account/register/",                              "AAAA | A | A | AAAAA | AA"),
    ("post",   "/v1.1/account/auth/",                                  "AAAA | A | A | AAAAA | AA"),
    ("post",   "/v1.1/account/auth/{backend}/",                        "AAAA | A | A | AAAAA | AA"),
    ("get",    "/v1.1/account/",                                       "AAAA | A | D | DDDDD | DD"),
    ("put",    "/v1.1/account/",                                       "AAAA | A | D | DDDDD | DD"),
    ("patch",  "/v1.1/account/",                                       "AAAA | A | D | DDDDD | DD"),
    ("post",   "/v1.1/account/reset_key/",                             "AAAA | A | D | DDDDD | DD"),
    ("post",   "/v1.1/account/password/",                              "AAAA | A | D | DDDDD | DD"),
    ("post",   "/v1.1/account/password/set/",                          "AAAA | A | D | DDDDD | DD"),
    ("post",   "/v1.1/account/password/reset/",                        "AAAA | A | A | AAAAA | AA"),
    ("post",   "/v1.1/account/password/reset/confirm/",                "AAAA | A | A | AAAAA | AA"),
    ("post",   "/v1.1/account/activate/",                              "AAAA | A | A | AAAAA | AA"),
    ("post",   "/v1.1/account/resend_email/",                          "AAAA | A | A | AAAAA | AA"),
    ("get",    "/v1.1/account/invitations/",                           "AAAA | A | D | DDDDD | DD"),
    // The invitation is addressed to the stranger: only the stranger sees it here.
    ("get",    "/v1.1/account/invitations/{id}/",                      "DDDD | A | D | DDDDD | DD"),
    ("delete", "/v1.1/account/invitations/{id}/",                      "DDDD | A | D | DDDDD | DD"),
    ("post",   "/v1.1/account/invitations/accept/",                    "AAAA | A | D | DDDDD | DD"),
    // Instances.
    ("get",    "/v1.1/instances/",                                     "AAAA | A | D | AAAAA | AA"),
    ("post",   "/v1.1/instances/",                                     "AAAA | A | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/",                          "AAAA | D | D | AAAAA | AA"),
    ("put",    "/v1.1/instances/{instance}/",                          "AADD | D | D | DDDDD | DD"),
    ("patch",  "/v1.1/instances/{instance}/",                          "AADD | D | D | DDDDD | DD"),
    ("delete", "/v1.1/instances/{instance}/",                          "ADDD | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/rename/",                   "ADDD | D | D | DDDDD | DD"),
    // Admins and API keys: admin views. The admin in the URL is the write admin, who may
    // leave the instance.
    ("get",    "/v1.1/instances/{instance}/admins/",                   "AAAA | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/admins/{id}/",              "AAAA | D | D | DDDDD | DD"),
    ("put",    "/v1.1/instances/{instance}/admins/{id}/",              "AADD | D | D | DDDDD | DD"),
    ("patch",  "/v1.1/instances/{instance}/admins/{id}/",              "AADD | D | D | DDDDD | DD"),
    ("delete", "/v1.1/instances/{instance}/admins/{id}/",              "AAAD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/api_keys/",                 "AADD | D | D | AAAAA | AA"),
    // The key in the URL is a spare one: every other key finds nothing.
    ("get",    "/v1.1/instances/{instance}/api_keys/{id}/",            "AADD | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/api_keys/",                 "AADD | D | D | DDDDD | DD"),
    ("put",    "/v1.1/instances/{instance}/api_keys/{id}/",            "AADD | D | D | DDDDD | DD"),
    ("patch",  "/v1.1/instances/{instance}/api_keys/{id}/",            "AADD | D | D | DDDDD | DD"),
    ("delete", "/v1.1/instances/{instance}/api_keys/{id}/",            "AADD | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/api_keys/{id}/reset_key/",  "AADD | D | D | DDDDD | DD"),
    // Channels: `secret` lets group members (alice) publish and nobody else subscribe; an
    // anonymous-read key reads only channels open to others (Rivia differs from Syncano).
    ("get",    "/v1.1/instances/{instance}/channels/",                 "AAAA | D | D | DADDA | AA"),
    ("post",   "/v1.1/instances/{instance}/channels/",                 "AAAD | D | D | DADDD | AA"),
    ("get",    "/v1.1/instances/{instance}/channels/{name}/",          "AAAA | D | D | DADDD | AD"),
    ("put",    "/v1.1/instances/{instance}/channels/{name}/",          "AAAD | D | D | DADDD | DD"),
    ("patch",  "/v1.1/instances/{instance}/channels/{name}/",          "AAAD | D | D | DADDD | DD"),
    ("delete", "/v1.1/instances/{instance}/channels/{name}/",          "AAAD | D | D | DADDD | DD"),
    ("post",   "/v1.1/instances/{instance}/channels/{name}/publish/",  "AAAD | D | D | DADDD | AD"),
    ("get",    "/v1.1/instances/{instance}/channels/{name}/poll/",     "AAAA | D | D | DADDD | AD"),
    ("get",    "/v1.1/instances/{instance}/channels/{name}/history/",  "AAAA | D | D | DADDD | AD"),
    ("get",    "/v1.1/instances/{instance}/channels/{name}/history/{id}/", "AAAA | D | D | DADDD | AD"),
    // Instance invitations: admin views (keys would see invitation keys).
    ("get",    "/v1.1/instances/{instance}/invitations/",              "AAAA | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/invitations/",              "AADD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/invitations/{id}/",         "AAAA | D | D | DDDDD | DD"),
    ("put",    "/v1.1/instances/{instance}/invitations/{id}/",         "AADD | D | D | DDDDD | DD"),
    ("patch",  "/v1.1/instances/{instance}/invitations/{id}/",         "AADD | D | D | DDDDD | DD"),
    ("delete", "/v1.1/instances/{instance}/invitations/{id}/",         "AADD | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/invitations/{id}/resend/",  "AADD | D | D | DDDDD | DD"),
    // Users: the user in the URL is alice.
    ("get",    "/v1.1/instances/{instance}/users/",                    "AAAA | D | D | DADDD | AA"),
    ("post",   "/v1.1/instances/{instance}/users/",                    "AAAD | D | D | DAADD | DD"),
    ("get",    "/v1.1/instances/{instance}/users/{id}/",               "AAAA | D | D | DADDD | AD"),
    ("put",    "/v1.1/instances/{instance}/users/{id}/",               "AAAD | D | D | DADDD | AD"),
    ("patch",  "/v1.1/instances/{instance}/users/{id}/",               "AAAD | D | D | DADDD | AD"),
    ("delete", "/v1.1/instances/{instance}/users/{id}/",               "AAAD | D | D | DADDD | DD"),
    ("post",   "/v1.1/instances/{instance}/users/{id}/reset_key/",     "AAAD | D | D | DADDD | AD"),
    ("post",   "/v1.1/instances/{instance}/user/auth/",                "AAAA | D | D | AAAAA | AA"),
    ("get",    "/v1.1/instances/{instance}/user/",                     "DDDD | D | D | DDDDD | AA"),
    ("put",    "/v1.1/instances/{instance}/user/",                     "DDDD | D | D | DDDDD | AA"),
    ("patch",  "/v1.1/instances/{instance}/user/",                     "DDDD | D | D | DDDDD | AA"),
    // Memberships: alice in group `g`; keys need a user (ignore_acl does not widen them).
    ("get",    "/v1.1/instances/{instance}/users/{id}/groups/",        "AAAA | D | D | DDDDD | AD"),
    ("post",   "/v1.1/instances/{instance}/users/{id}/groups/",        "AAAD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/users/{id}/groups/{group}/", "AAAA | D | D | DDDDD | AD"),
    ("delete", "/v1.1/instances/{instance}/users/{id}/groups/{group}/", "AAAD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/groups/{id}/users/",        "AAAA | D | D | DDDDD | AA"),
    ("post",   "/v1.1/instances/{instance}/groups/{id}/users/",        "AAAD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/groups/{id}/users/{user}/", "AAAA | D | D | DDDDD | AD"),
    ("delete", "/v1.1/instances/{instance}/groups/{id}/users/{user}/", "AAAD | D | D | DDDDD | DD"),
    // Groups.
    ("get",    "/v1.1/instances/{instance}/groups/",                   "AAAA | D | D | AAAAA | AA"),
    ("post",   "/v1.1/instances/{instance}/groups/",                   "AAAD | D | D | DDDAD | DD"),
    ("get",    "/v1.1/instances/{instance}/groups/{id}/",              "AAAA | D | D | AAAAA | AA"),
    ("put",    "/v1.1/instances/{instance}/groups/{id}/",              "AAAD | D | D | DDDDD | DD"),
    ("patch",  "/v1.1/instances/{instance}/groups/{id}/",              "AAAD | D | D | DDDDD | DD"),
    ("delete", "/v1.1/instances/{instance}/groups/{id}/",              "AAAD | D | D | DDDDD | DD"),
    // Batch: any authenticated caller may send one; its one sub-request reads the private
    // object and is judged by the markers in the answer.
    ("post",   "/v1.1/instances/{instance}/batch/",                    "AAAA | A | D | AAAAA | AA"),
    // Classes: `notes` is readable by others (other_permissions read).
    ("get",    "/v1.1/instances/{instance}/classes/",                  "AAAA | D | D | AAAAA | AA"),
    ("post",   "/v1.1/instances/{instance}/classes/",                  "AAAD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/classes/{class}/",          "AAAA | D | D | AAAAA | AA"),
    ("put",    "/v1.1/instances/{instance}/classes/{class}/",          "AAAD | D | D | DDDDD | DD"),
    ("patch",  "/v1.1/instances/{instance}/classes/{class}/",          "AAAD | D | D | DDDDD | DD"),
    ("delete", "/v1.1/instances/{instance}/classes/{class}/",          "AAAD | D | D | DDDDD | DD"),
    // Objects: the object in the URL is alice's private one (others: none).
    ("get",    "/v1.1/instances/{instance}/classes/{class}/objects/",  "AAAA | D | D | DADDA | AA"),
    ("post",   "/v1.1/instances/{instance}/classes/{class}/objects/",  "AAAD | D | D | DADDD | AD"),
    ("get",    "/v1.1/instances/{instance}/classes/{class}/objects/{id}/", "AAAA | D | D | DADDD | AD"),
    ("post",   "/v1.1/instances/{instance}/classes/{class}/objects/{id}/", "AAAD | D | D | DADDD | AD"),
    ("patch",  "/v1.1/instances/{instance}/classes/{class}/objects/{id}/", "AAAD | D | D | DADDD | AD"),
    ("delete", "/v1.1/instances/{instance}/classes/{class}/objects/{id}/", "AAAD | D | D | DADDD | AD"),
    // Snippets: the links document is open to all (it names URLs only); scripts are admin
    // business; the config (script secrets) is read by admins and ignore_acl keys only
    // (Rivia differs from Syncano).
    ("get",    "/v1.1/instances/{instance}/snippets/",                 "AAAA | A | A | AAAAA | AA"),
    ("get",    "/v1.1/instances/{instance}/snippets/config/",          "AAAA | D | D | DADDD | DD"),
    ("put",    "/v1.1/instances/{instance}/snippets/config/",          "AADD | D | D | DDDDD | DD"),
    ("patch",  "/v1.1/instances/{instance}/snippets/config/",          "AADD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/snippets/scripts/",         "AAAA | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/snippets/scripts/",         "AAAD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/snippets/scripts/runtimes/", "AAAA | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/snippets/scripts/{id}/",    "AAAA | D | D | DDDDD | DD"),
    ("put",    "/v1.1/instances/{instance}/snippets/scripts/{id}/",    "AAAD | D | D | DDDDD | DD"),
    ("patch",  "/v1.1/instances/{instance}/snippets/scripts/{id}/",    "AAAD | D | D | DDDDD | DD"),
    ("delete", "/v1.1/instances/{instance}/snippets/scripts/{id}/",    "AAAD | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/snippets/scripts/{id}/run/", "AAAD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/snippets/scripts/{id}/traces/", "AAAA | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/snippets/scripts/{id}/traces/{trace_id}/", "AAAA | D | D | DDDDD | DD"),
    // Script endpoints: `ep` runs the fixture's script and is public.
    ("get",    "/v1.1/instances/{instance}/endpoints/",                "AAAA | A | A | AAAAA | AA"),
    ("get",    "/v1.1/instances/{instance}/endpoints/scripts/",        "AAAA | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/endpoints/scripts/",        "AAAD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/endpoints/scripts/{name}/", "AAAA | D | D | DDDDD | DD"),
    ("put",    "/v1.1/instances/{instance}/endpoints/scripts/{name}/", "AAAD | D | D | DDDDD | DD"),
    ("patch",  "/v1.1/instances/{instance}/endpoints/scripts/{name}/", "AAAD | D | D | DDDDD | DD"),
    ("delete", "/v1.1/instances/{instance}/endpoints/scripts/{name}/", "AAAD | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/endpoints/scripts/{name}/reset_link/", "AAAD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/endpoints/scripts/{name}/run/", "AAAA | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/endpoints/scripts/{name}/run/", "AAAD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/endpoints/scripts/{name}/traces/", "AAAA | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/endpoints/scripts/{name}/traces/{trace_id}/", "AAAA | D | D | DDDDD | DD"),
    // A public link runs for anyone who has it (a capability, like media URLs).
    ("get",    "/v1.1/instances/{instance}/endpoints/scripts/p/{public_link}/{name}/", "AAAA | A | A | AAAAA | AA"),
    ("post",   "/v1.1/instances/{instance}/endpoints/scripts/p/{public_link}/{name}/", "AAAA | A | A | AAAAA | AA"),
    // Triggers and schedules: admins only, the read role reads (rest §2, §3).
    ("get",    "/v1.1/instances/{instance}/triggers/",                 "AAAA | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/triggers/",                 "AAAD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/triggers/{id}/",            "AAAA | D | D | DDDDD | DD"),
    ("put",    "/v1.1/instances/{instance}/triggers/{id}/",            "AAAD | D | D | DDDDD | DD"),
    ("patch",  "/v1.1/instances/{instance}/triggers/{id}/",            "AAAD | D | D | DDDDD | DD"),
    ("delete", "/v1.1/instances/{instance}/triggers/{id}/",            "AAAD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/triggers/{id}/traces/",     "AAAA | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/triggers/{id}/traces/{trace_id}/", "AAAA | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/schedules/",                "AAAA | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/schedules/",                "AAAD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/schedules/{id}/",           "AAAA | D | D | DDDDD | DD"),
    ("put",    "/v1.1/instances/{instance}/schedules/{id}/",           "AAAD | D | D | DDDDD | DD"),
    ("patch",  "/v1.1/instances/{instance}/schedules/{id}/",           "AAAD | D | D | DDDDD | DD"),
    ("delete", "/v1.1/instances/{instance}/schedules/{id}/",           "AAAD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/schedules/{id}/traces/",    "AAAA | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/schedules/{id}/traces/{trace_id}/", "AAAA | D | D | DDDDD | DD"),
    // Data endpoints `de` over class notes: definitions for admins (write role), read by
    // API keys; `get/` and `post/` are the class's objects list and create (rest §5).
    ("get",    "/v1.1/instances/{instance}/endpoints/data/",           "AAAA | D | D | AAAAA | AA"),
    ("post",   "/v1.1/instances/{instance}/endpoints/data/",           "AAAD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/endpoints/data/{name}/",    "AAAA | D | D | AAAAA | AA"),
    ("put",    "/v1.1/instances/{instance}/endpoints/data/{name}/",    "AAAD | D | D | DDDDD | DD"),
    ("patch",  "/v1.1/instances/{instance}/endpoints/data/{name}/",    "AAAD | D | D | DDDDD | DD"),
    ("delete", "/v1.1/instances/{instance}/endpoints/data/{name}/",    "AAAD | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/endpoints/data/{name}/rename/", "AAAD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/endpoints/data/{name}/get/", "AAAA | D | D | DADDA | AA"),
    ("post",   "/v1.1/instances/{instance}/endpoints/data/{name}/post/", "AAAD | D | D | DADDD | AD"),
    // Response templates (the predefined `objects_csv`): owner and full write, every admin
    // and API key reads, API keys render; `render/` is a POST, so for admins it is a write
    // (owner and full only), as the platform's role permission read it (rest §7).
    ("get",    "/v1.1/instances/{instance}/snippets/templates/",       "AAAA | D | D | AAAAA | AA"),
    ("post",   "/v1.1/instances/{instance}/snippets/templates/",       "AADD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/snippets/templates/{name}/", "AAAA | D | D | AAAAA | AA"),
    ("put",    "/v1.1/instances/{instance}/snippets/templates/{name}/", "AADD | D | D | DDDDD | DD"),
    ("patch",  "/v1.1/instances/{instance}/snippets/templates/{name}/", "AADD | D | D | DDDDD | DD"),
    ("delete", "/v1.1/instances/{instance}/snippets/templates/{name}/", "AADD | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/snippets/templates/{name}/rename/", "AADD | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/snippets/templates/{name}/render/", "AADD | D | D | AAAAA | AA"),
    // Backups and restores (rest §10): an instance's for its owner and full admins; the
    // account-level listing shows each admin their own (the fixture's are the owner's).
    ("get",    "/v1.1/backups/",                                       "AAAA | A | D | DDDDD | DD"),
    ("get",    "/v1.1/backups/full/",                                  "AAAA | A | D | DDDDD | DD"),
    ("get",    "/v1.1/backups/full/{id}/",                             "ADDD | D | D | DDDDD | DD"),
    ("delete", "/v1.1/backups/full/{id}/",                             "ADDD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/backups/",                  "AADD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/backups/full/",             "AADD | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/backups/full/",             "AADD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/backups/full/{id}/",        "AADD | D | D | DDDDD | DD"),
    ("delete", "/v1.1/instances/{instance}/backups/full/{id}/",        "AADD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/restores/",                 "AADD | D | D | DDDDD | DD"),
    ("post",   "/v1.1/instances/{instance}/restores/",                 "AADD | D | D | DDDDD | DD"),
    ("get",    "/v1.1/instances/{instance}/restores/{id}/",            "AADD | D | D | DDDDD | DD"),
    // Media URLs are capability URLs (README, Security): whoever has one reads the file.
    ("get",    "/media/{instance_id}/{class_id}/{file}",               "AAAA | A | A | AAAAA | AA"),
];

/// The body a non-GET cell sends (`{}` unless the route needs more to mean something).
fn body_for(method: &str, route: &str, w: &World) -> Option<Value> {
    if method == "get" {
        return None;
    }
    Some(match route {
        // The sub-request reads the private object: the batch answer must not carry it
        // to a caller who may not read it.
        "/v1.1/instances/{instance}/batch/" => json!({"requests": [
            {"method": "GET", "path": format!("/v1.1/instances/{}/classes/notes/objects/{}/", w.instance, w.object)}
        ]}),
        "/v1.1/instances/{instance}/channels/{name}/publish/" => json!({"payload": {"n": 1}}),
        "/v1.1/instances/{instance}/snippets/scripts/{id}/run/" => json!({"args": {}}),
        _ => json!({}),
    })
}

/// Parses a row's letters: `true` where the caller is allowed.
fn letters(row: &Row) -> Vec<bool> {
    let cells: Vec<bool> = row
        .2
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '|')
        .map(|c| match c {
            'A' => true,
            'D' => false,
            other => panic!("{} {}: unknown letter {other:?}", row.0, row.1),
        })
        .collect();
    assert_eq!(
        cells.len(),
        CALLERS.len(),
        "{} {}: one letter per caller",
        row.0,
        row.1
    );
    cells
}

#[test]
fn every_route_has_a_row() {
    let (_, docs) = rivia_server::api::all().into_parts();
    let routes: BTreeSet<(String, String)> = docs
        .iter()
        .map(|d| (d.method.to_string(), d.path.to_string()))
        .collect();
    let rows: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(rows.len(), MATRIX.len(), "a route has two rows");
    let missing: Vec<String> = routes
        .difference(&rows)
        .map(|(m, p)| format!("    (\"{m}\", \"{p}\", \"???? | ? | ? | ????? | ??\"),"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the access matrix (tests/api/access_matrix.rs); add:\n{}",
        missing.join("\n")
    );
    let stale: Vec<_> = rows.difference(&routes).collect();
    assert!(
        stale.is_empty(),
        "rows for routes that do not exist: {stale:?}"
    );
    for row in MATRIX {
        letters(row);
    }
}

/// Everything the cells need: the instance, the callers' credentials, the ids that fill
/// the routes' parameters, and the markers that must not leak.
struct World {
    instance: String,
    /// Account keys of owner, full, write, read, stranger.
    admin_keys: [String; 5],
    /// Keys: flagless, ignore_acl, allow_user_create, allow_group_create,
    /// allow_anonymous_read; then the spare one the api_keys routes act on.
    api_keys: [String; 6],
    alice_key: String,
    bob_key: String,
    alice: i64,
    group: i64,
    object: i64,
    write_admin: i64,
    spare_key: i64,
    invitation: i64,
    invitation_key: String,
    change: i64,
    script: i64,
    trace: i64,
    trigger: i64,
    backup: i64,
    restore: i64,
    trigger_trace: i64,
    schedule: i64,
    schedule_trace: i64,
    endpoint_trace: i64,
    public_link: String,
    media_path: String,
    /// The private object's title and the private channel message's payload.
    private: String,
    /// A title stored in the stranger's instance.
    elsewhere: String,
}

static WORLDS: AtomicUsize = AtomicUsize::new(0);

/// A password hash computed once (hashing is slow on purpose).
fn hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| rivia_core::password::hash("matrix-password").expect("hash"))
}

async fn store_admin(app: &TestApp, email: &str) -> (i64, String) {
    let key = rivia_core::keys::new_account_key();
    let admin = app
        .store
        .create_admin(rivia_store::admins::NewAdmin {
            email,
            password: Some(hash()),
            first_name: "",
            last_name: "",
            account_key: &key,
            is_active: true,
        })
        .await
        .expect("admin");
    (admin.id, key)
}

async fn ok(app: &TestApp, key: &str, method: &str, path: &str, body: Value) -> Value {
    let r = app.as_key(key, method, path, Some(body)).await;
    assert!(
        r.status.is_success(),
        "fixture: {} → {} {}",
        r.request,
        r.status,
        r.body
    );
    r.body
}

/// Builds a fresh world in a new instance, with new accounts.
async fn build_world(app: &TestApp) -> World {
    let n = WORLDS.fetch_add(1, Ordering::Relaxed);
    let instance = format!("matrix-{n}");
    let private = format!("PRIVATE-{n}-7f3a");
    let elsewhere = format!("ELSEWHERE-{n}-9c1d");
    let (_, owner) = store_admin(app, &format!("owner-{n}@matrix.test")).await;
    app.instance(&owner, &instance).await;
    let inst = app.stored_instance(&instance).await;
    let mut admin_keys = vec![owner.clone()];
    let mut write_admin = 0;
    for role in [Role::Full, Role::Write, Role::Read] {
        let (id, key) = store_admin(app, &format!("{}-{n}@matrix.test", role.name())).await;
        app.store
            .grant_admin_role(inst.id, id, role)
            .await
            .expect("role");
        if role == Role::Write {
            write_admin = id;
        }
        admin_keys.push(key);
    }
    let stranger_email = format!("stranger-{n}@matrix.test");
    let (_, stranger) = store_admin(app, &stranger_email).await;
    let other_instance = format!("elsewhere-{n}");
    app.instance(&stranger, &other_instance).await;
    let base = format!("/v1.1/instances/{other_instance}");
    ok(
        app,
        &stranger,
        "POST",
        &format!("{base}/classes/"),
        json!({"name": "notes", "schema": [{"name": "title", "type": "string"}]}),
    )
    .await;
    ok(
        app,
        &stranger,
        "POST",
        &format!("{base}/classes/notes/objects/"),
        json!({"title": elsewhere}),
    )
    .await;
    admin_keys.push(stranger);

    let base = format!("/v1.1/instances/{instance}");
    let mut api_keys = Vec::new();
    let mut spare_key = 0;
    for flags in [
        json!({}),
        json!({"ignore_acl": true}),
        json!({"allow_user_create": true}),
        json!({"allow_group_create": true}),
        json!({"allow_anonymous_read": true}),
        json!({"description": "spare"}),
    ] {
        let k = ok(app, &owner, "POST", &format!("{base}/api_keys/"), flags).await;
        spare_key = k["id"].as_i64().expect("id");
        api_keys.push(k["api_key"].as_str().expect("key").to_string());
    }
    let (alice, alice_key) = store_user(app, &instance, "alice").await;
    let (_, bob_key) = store_user(app, &instance, "bob").await;
    let group = crate::helpers::store_group(app, &instance, &[alice]).await;

    ok(
        app,
        &owner,
        "POST",
        &format!("{base}/classes/"),
        json!({
            "name": "notes",
            "schema": [{"name": "title", "type": "string"}, {"name": "file", "type": "file"}],
            "other_permissions": "read", "group_permissions": "create_objects", "group": group,
        }),
    )
    .await;
    // Alice's private object, created as alice, with a file.
    let object = ok(
        app,
        &owner,
        "POST",
        &format!("{base}/classes/notes/objects/"),
        json!({
            "title": private, "owner": alice, "owner_permissions": "full",
            "other_permissions": "none", "group_permissions": "none",
        }),
    )
    .await["id"]
        .as_i64()
        .expect("id");
    let media_path = upload(
        app,
        &owner,
        &format!("{base}/classes/notes/objects/{object}/"),
    )
    .await;
    // A public object, so that lists have something others may read.
    ok(
        app,
        &owner,
        "POST",
        &format!("{base}/classes/notes/objects/"),
        json!({"title": "public", "other_permissions": "read"}),
    )
    .await;

    ok(
        app,
        &owner,
        "POST",
        &format!("{base}/channels/"),
        json!({
            "name": "secret", "custom_publish": true, "group": group,
            "group_permissions": "publish", "other_permissions": "none",
        }),
    )
    .await;
    let change = ok(
        app,
        &owner,
        "POST",
        &format!("{base}/channels/secret/publish/"),
        json!({"payload": {"m": private}}),
    )
    .await["id"]
        .as_i64()
        .expect("id");
    let inv = ok(
        app,
        &owner,
        "POST",
        &format!("{base}/invitations/"),
        json!({"email": stranger_email, "role": "read"}),
    )
    .await;
    let script = ok(
        app,
        &owner,
        "POST",
        &format!("{base}/snippets/scripts/"),
        json!({"label": "s", "runtime_name": "python3", "source": "print(1)"}),
    )
    .await["id"]
        .as_i64()
        .expect("id");
    let trace = app
        .store
        .create_trace(inst.id, "script", &script.to_string())
        .await
        .expect("trace")
        .id;
    let endpoint = ok(
        app,
        &owner,
        "POST",
        &format!("{base}/endpoints/scripts/"),
        json!({"name": "ep", "script": script, "public": true}),
    )
    .await;
    let endpoint_id = app
        .store
        .script_endpoint(inst.id, "ep")
        .await
        .expect("db")
        .expect("endpoint")
        .id;
    let endpoint_trace = app
        .store
        .create_endpoint_trace(inst.id, endpoint_id, "{}", "{}", 2)
        .await
        .expect("trace")
        .id;
    let trigger = ok(
        app,
        &owner,
        "POST",
        &format!("{base}/triggers/"),
        json!({"label": "t", "signal": "post_update", "class": "notes", "script": script}),
    )
    .await["id"]
        .as_i64()
        .expect("trigger id");
    let trigger_trace = app
        .store
        .create_trace(inst.id, "trigger", &trigger.to_string())
        .await
        .expect("trace")
        .id;
    let schedule = ok(
        app,
        &owner,
        "POST",
        &format!("{base}/schedules/"),
        json!({"label": "s", "interval_sec": 86400, "script": script}),
    )
    .await["id"]
        .as_i64()
        .expect("schedule id");
    let schedule_trace = app
        .store
        .create_trace(inst.id, "schedule", &schedule.to_string())
        .await
        .expect("trace")
        .id;
    ok(
        app,
        &owner,
        "POST",
        &format!("{base}/endpoints/data/"),
        json!({"name": "de", "class": "notes"}),
    )
    .await;
    // A finished backup and a failed restore, written as rows (a real backup job would
    // run in the background of every rebuilt world).
    let now = rivia_core::time::now_micros();
    let raw = app.store.raw();
    raw.write(vec![(
        "INSERT INTO backups (owner_id, instance_id, status, created_at, updated_at) VALUES ($1, $2, 3, $3, $3)".into(),
        vec![inst.owner_id.into(), inst.id.into(), now.into()],
    )])
    .await
    .expect("backup row");
    let last = |table: &'static str| {
        let raw = &raw;
        let id = inst.id;
        async move {
            raw.query(
                &format!("SELECT MAX(id) FROM {table} WHERE instance_id = $1"),
                vec![id.into()],
            )
            .await
            .expect("id")[0]
                .i64(0)
        }
    };
    let backup = last("backups").await;
    raw.write(vec![(
        "INSERT INTO restores (owner_id, instance_id, backup_id, status, created_at, updated_at) VALUES ($1, $2, $3, 4, $4, $4)".into(),
        vec![inst.owner_id.into(), inst.id.into(), backup.into(), now.into()],
    )])
    .await
    .expect("restore row");
    let restore = last("restores").await;
    World {
        instance,
        admin_keys: admin_keys.try_into().expect("five admins"),
        api_keys: api_keys.try_into().expect("six keys"),
        alice_key,
        bob_key,
        alice,
        group,
        object,
        write_admin,
        spare_key,
        invitation: inv["id"].as_i64().expect("id"),
        invitation_key: inv["key"].as_str().expect("key").to_string(),
        change,
        script,
        trace,
        trigger,
        backup,
        restore,
        trigger_trace,
        schedule,
        schedule_trace,
        endpoint_trace,
        public_link: endpoint["public_link"]
            .as_str()
            .expect("public_link")
            .to_string(),
        media_path,
        private,
        elsewhere,
    }
}

/// PATCHes a small file into the object's `file` field; its `/media/…` path.
async fn upload(app: &TestApp, key: &str, url: &str) -> String {
    let boundary = "MaTrIx";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nfile body\r\n--{boundary}--\r\n"
    );
    let req = axum::http::Request::builder()
        .method("PATCH")
        .uri(url)
        .header("x-api-key", key)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(axum::body::Body::from(body))
        .expect("request");
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "upload: {}", r.body);
    let url = r.body["file"]["value"].as_str().expect("file url");
    url[url.find("/media/").expect("media")..].to_string()
}

impl World {
    /// The credentials a caller sends.
    fn headers(&self, caller: Caller) -> Vec<(&'static str, String)> {
        let key = |k: &String| vec![("x-api-key", k.clone())];
        match caller {
            Owner => key(&self.admin_keys[0]),
            Full => key(&self.admin_keys[1]),
            Write => key(&self.admin_keys[2]),
            Read => key(&self.admin_keys[3]),
            Stranger => key(&self.admin_keys[4]),
            NoKey => vec![],
            Key => key(&self.api_keys[0]),
            IgnoreAcl => key(&self.api_keys[1]),
            UserCreate => key(&self.api_keys[2]),
            GroupCreate => key(&self.api_keys[3]),
            AnonRead => key(&self.api_keys[4]),
            User => vec![
                ("x-api-key", self.api_keys[0].clone()),
                ("x-user-key", self.alice_key.clone()),
            ],
            OtherUser => vec![
                ("x-api-key", self.api_keys[0].clone()),
                ("x-user-key", self.bob_key.clone()),
            ],
        }
    }

    /// The value of a path parameter; `noun` is the segment before it.
    fn param(&self, name: &str, noun: &str, route: &str) -> String {
        match (name, noun) {
            ("instance", _) => self.instance.clone(),
            ("class", _) => "notes".into(),
            ("name", "channels") => "secret".into(),
            ("group", _) => self.group.to_string(),
            ("user", _) => self.alice.to_string(),
            ("trace_id", _) if route.contains("/endpoints/") => self.endpoint_trace.to_string(),
            ("trace_id", _) if route.contains("/triggers/") => self.trigger_trace.to_string(),
            ("trace_id", _) if route.contains("/schedules/") => self.schedule_trace.to_string(),
            ("name", _) if route.contains("/endpoints/data/") => "de".into(),
            ("name", _) if route.contains("/snippets/templates/") => "objects_csv".into(),
            ("id", "triggers") => self.trigger.to_string(),
            ("id", "full") => self.backup.to_string(),
            ("id", "restores") => self.restore.to_string(),
            ("id", "schedules") => self.schedule.to_string(),
            ("trace_id", _) => self.trace.to_string(),
            ("name", _) if route.contains("/endpoints/scripts/") => "ep".into(),
            ("public_link", _) => self.public_link.clone(),
            ("backend", _) => "facebook".into(),
            ("id", "admins") => self.write_admin.to_string(),
            ("id", "api_keys") => self.spare_key.to_string(),
            ("id", "history") => self.change.to_string(),
            ("id", "invitations") => self.invitation.to_string(),
            ("id", "users") => self.alice.to_string(),
            ("id", "groups") => self.group.to_string(),
            ("id", "objects") => self.object.to_string(),
            ("id", "scripts") => self.script.to_string(),
            _ => panic!(
                "{route}: the access matrix does not know what {{{name}}} after `{noun}` is; \
                 teach World::param and build_world"
            ),
        }
    }

    /// The route with its parameters filled in.
    fn path(&self, route: &str) -> String {
        if route.starts_with("/media/") {
            return self.media_path.clone();
        }
        let segments: Vec<&str> = route.split('/').collect();
        segments
            .iter()
            .enumerate()
            .map(
                |(i, seg)| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => self.param(name, segments[i.saturating_sub(1)], route),
                    None => seg.to_string(),
                },
            )
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Every marker with the callers that may see it in an answer.
    fn markers(&self) -> Vec<(&str, &'static str, Vec<Caller>)> {
        let admins = vec![Owner, Full, Write, Read];
        let readers_of_private = [admins.clone(), vec![IgnoreAcl, User]].concat();
        let mut out = vec![
            (
                self.private.as_str(),
                "alice's private object and message",
                readers_of_private,
            ),
            (self.elsewhere.as_str(), "another instance's object", vec![]),
            (
                self.invitation_key.as_str(),
                "the invitation key",
                vec![Owner, Full, Stranger],
            ),
            (
                self.alice_key.as_str(),
                "alice's user key",
                [admins.clone(), vec![IgnoreAcl, User]].concat(),
            ),
            (
                self.bob_key.as_str(),
                "bob's user key",
                [admins.clone(), vec![IgnoreAcl, OtherUser]].concat(),
            ),
        ];
        let admin_callers = [Owner, Full, Write, Read, Stranger];
        for (key, caller) in self.admin_keys.iter().zip(admin_callers) {
            out.push((key.as_str(), "an account key", vec![caller]));
        }
        let key_callers: [&[Caller]; 6] = [
            &[Key, User, OtherUser],
            &[IgnoreAcl],
            &[UserCreate],
            &[GroupCreate],
            &[AnonRead],
            &[],
        ];
        for (key, own) in self.api_keys.iter().zip(key_callers) {
            out.push((
                key.as_str(),
                "an API key",
                [vec![Owner, Full], own.to_vec()].concat(),
            ));
        }
        out
    }
}

/// Runs one cell; `Err` describes how it broke the table.
async fn run_cell(
    app: &TestApp,
    w: &World,
    row: &Row,
    caller: Caller,
    allowed: bool,
) -> (Result<(), String>, bool) {
    let (method, route, _) = *row;
    let path = w.path(route);
    let headers = w.headers(caller);
    let header_refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = app
        .call(
            &method.to_uppercase(),
            &path,
            &header_refs,
            body_for(method, route, w),
        )
        .await;
    let text = r.body.to_string();
    let status = r.status.as_u16();
    let mutated = method != "get" && r.status.is_success();
    let cell = format!(
        "{method} {route} as {caller:?} → {status} {}",
        truncate(&text)
    );
    if status >= 500 {
        return (Err(format!("{cell}: a server error")), mutated);
    }
    let refused = matches!(status, 401 | 403 | 404);
    if allowed && refused {
        return (Err(format!("{cell}: expected allowed")), mutated);
    }
    if !allowed {
        if !refused {
            return (Err(format!("{cell}: expected denied")), mutated);
        }
        let detail_only = r
            .body
            .as_object()
            .is_some_and(|m| m.len() == 1 && m["detail"].is_string());
        if !detail_only {
            return (
                Err(format!("{cell}: a denial carries more than a detail")),
                mutated,
            );
        }
    }
    for (marker, what, may_see) in w.markers() {
        if text.contains(marker) && !may_see.contains(&caller) {
            return (Err(format!("{cell}: leaks {what}")), mutated);
        }
    }
    (Ok(()), mutated)
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(160) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

async fn every_cell_of_the_access_matrix_holds(backend: Backend) {
    let Some(app) = TestApp::with_settings(backend, |s| {
        s.poll_timeout = std::time::Duration::from_millis(50);
    })
    .await
    else {
        return;
    };
    let app = std::sync::Arc::new(app);
    // Fresh worlds are built ahead, two at a time, while the cells run: an allowed write
    // takes the next one instead of waiting for it to be built.
    let (tx, mut worlds) = tokio::sync::mpsc::channel::<World>(2);
    let builders: Vec<_> = (0..2)
        .map(|_| {
            let (app, tx) = (app.clone(), tx.clone());
            tokio::spawn(async move {
                loop {
                    let world = build_world(&app).await;
                    if tx.send(world).await.is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut world = worlds.recv().await.expect("a world");
    let mut failures = Vec::new();
    let mut rebuilds = 0;
    for row in MATRIX {
        for (caller, allowed) in CALLERS.iter().zip(letters(row)) {
            let (result, mutated) = run_cell(&app, &world, row, *caller, allowed).await;
            if let Err(e) = result {
                failures.push(e);
            }
            if mutated {
                world = worlds.recv().await.expect("a world");
                rebuilds += 1;
            }
        }
    }
    drop(worlds);
    for builder in builders {
        // A builder blocked on a full channel ends when the receiver is gone; one in the
        // middle of a build is stopped.
        builder.abort();
        let _ = builder.await;
    }
    assert!(
        failures.is_empty(),
        "{} of {} cells broke the access matrix ({rebuilds} rebuilds):\n{}",
        failures.len(),
        MATRIX.len() * CALLERS.len(),
        failures.join("\n")
    );
}
