// clef rules for a Clique sealer (geth 1.13.15): sign Clique block headers, nothing else.
//
// geth asks its external signer (--signer <clef.ipc>) to sign each block it seals, as a
// sign-data request of content type application/x-clique-header. With these rules clef
// approves exactly that, and refuses to sign any transaction: a compromised geth process
// can seal blocks (what the sealer key is for) but cannot spend from or impersonate the
// sealer account. The sealer account is never an organization's transaction account.
//
// clef runs rules only once their sha256 is attested (clef attest <sha256sum of this file>),
// and signs without asking only for an account whose password it stores
// (clef setpw <SEALER_ADDRESS>). README.md beside this file has the commands.

function ApproveListing() {
  // geth lists the signer's accounts at start, to find the etherbase.
  return "Approve";
}

function ApproveSignData(req) {
  if (req.content_type !== "application/x-clique-header") {
    return "Reject";
  }
  for (var i = 0; i < req.messages.length; i++) {
    var msg = req.messages[i];
    if (msg.name === "Clique header" && msg.type === "clique") {
      return "Approve";
    }
  }
  return "Reject";
}

function ApproveTx(req) {
  return "Reject";
}
