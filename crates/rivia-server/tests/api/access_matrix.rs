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

mod world;

use crate::helpers::{Backend, TestApp};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use world::{World, build_world};

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
