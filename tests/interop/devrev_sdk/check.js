// Drives openplug with DevRev's own TypeScript SDK, unchanged: the calls a
// website backend and an agent tool make. Prints one JSON object of results
// for the Python test to assert on. Usage: node check.js ENDPOINT AAT PAT
const { client } = require("@devrev/typescript-sdk");

async function outcome(promise) {
  try {
    const r = await promise;
    return { status: r.status, data: r.data };
  } catch (e) {
    if (e.response) return { status: e.response.status, data: e.response.data };
    throw e;
  }
}

async function main() {
  const [endpoint, aat, pat] = process.argv.slice(2);
  const backend = client.setup({ endpoint, token: aat });
  const agent = client.setup({ endpoint, token: pat });
  const out = {};
  out.session = await outcome(backend.authTokensCreate({
    rev_info: {
      user_ref: "sdk-user@devrev.ai",
      account_ref: "devrev.ai",
      workspace_ref: "devrev-dev",
      user_traits: { email: "sdk-user@devrev.ai", display_name: "SDK User", phone_numbers: ["+911122334455"] },
      account_traits: { display_name: "Devrev", domains: ["devrev.ai"] },
    },
    expires_in_mins: 30,
  }));
  out.oauth = await outcome(backend.authTokensCreate({
    grant_type: "urn:devrev:params:oauth:grant-type:token-issue",
    requested_token_type: "urn:devrev:params:oauth:token-type:session",
    subject_token_type: "urn:devrev:params:oauth:token-type:rev_info",
    subject_token: JSON.stringify({ user_ref: "sdk-user@devrev.ai" }),
  }));
  out.bad_phone = await outcome(backend.authTokensCreate({
    rev_info: { user_ref: "x", user_traits: { phone_numbers: ["12345"] } },
  }));
  out.users = await outcome(agent.revUsersList({ external_ref: ["sdk-user@devrev.ai", "nobody"] }));
  const userId = out.users.data.rev_users[0].id;
  out.user = await outcome(agent.revUsersGet({ id: userId }));
  out.user_update = await outcome(agent.revUsersUpdate({ id: userId, description: "from the SDK" }));
  out.accounts = await outcome(agent.accountsList({ external_refs: ["devrev.ai"] }));
  out.rev_orgs = await outcome(agent.revOrgsList({ external_ref: ["devrev-dev"] }));
  // DevRev's fields of issue 10: sorting, display_name filters, {set} updates,
  // a conversation's description, tags and members.
  out.accounts_sorted = await outcome(agent.accountsList({
    sort_by: ["created_date:desc"], display_name: ["Devrev"], mode: "after",
  }));
  const accountId = out.accounts.data.accounts[0].id;
  out.account_update = await outcome(agent.accountsUpdate({
    id: accountId, websites: { set: ["www.devrev.ai"] },
  }));
  out.account_owners = out.account_update.data.account.owned_by.map((o) => o.id);
  out.conversation = await outcome(agent.conversationsCreate({
    type: "support", title: "From the SDK", members: [userId],
    description: "asked on the phone", tags: [{ id: "billing" }],
  }));
  out.conversation_update = await outcome(agent.conversationsUpdate({
    id: out.conversation.data.conversation.id,
    members: { set: [userId] }, tags: { add: [{ id: "vip" }] },
  }));
  // Issue 10, part 2: the records and calls an agent tool also makes.
  out.account_created = await outcome(agent.accountsCreate({
    display_name: "SDK Co", external_refs: ["sdkco.example"], owned_by: [],
  }));
  out.rev_org_created = await outcome(agent.revOrgsCreate({
    account: out.account_created.data.account.id, display_name: "SDK Co EU",
    external_ref: "sdkco-eu",
  }));
  out.rev_user_created = await outcome(agent.revUsersCreate({
    email: "made@sdkco.example", external_ref: "sdk-made",
    rev_org: out.rev_org_created.data.rev_org.id,
  }));
  const convId = out.conversation.data.conversation.id;
  const entry = await outcome(agent.timelineEntriesCreate({
    object: convId, type: "timeline_comment", body: "Lookng into it",
  }));
  const entryId = entry.data.timeline_entry.id;
  out.entry_get = await outcome(agent.timelineEntriesGet({ id: entryId }));
  out.entry_update = await outcome(agent.timelineEntriesUpdate({
    id: entryId, type: "timeline_comment", body: "Looking into it",
  }));
  out.entry_delete = await outcome(agent.timelineEntriesDelete({ id: entryId }));
  out.entry_gone = await outcome(agent.timelineEntriesGet({ id: entryId }));
  out.dev_self = await outcome(agent.devUsersSelf());
  out.dev_get = await outcome(agent.devUsersGet({ id: out.dev_self.data.dev_user.id }));
  out.dev_list = await outcome(agent.devUsersList({}));
  out.conversation_delete = await outcome(agent.conversationsDelete({ id: convId }));
  out.conversation_gone = await outcome(agent.conversationsGet({ id: convId }));
  out.tokens = await outcome(agent.authTokensList({}));
  out.info = await outcome(agent.authTokensInfo());
  out.aat_on_pat_call = await outcome(backend.revUsersList({}));
  out.schema = await outcome(agent.customSchemaFragmentsSet({
    type: "tenant_fragment", leaf_type: "rev_user", description: "from the SDK",
    fields: [{ name: "plan", field_type: "enum", allowed_values: ["free", "pro"] }],
  }));
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { console.error(e); process.exit(1); });
