package devices

import "github.com/geohub/geohub/internal/scram"

// Directory is what the layers above read of the accounts: who exists,
// their groups and who sees whom, who is online, and what changed. pubsub
// needs no more.
type Directory interface {
	Domain() string
	JID(name string) string
	Get(name string) (Account, bool)
	Exists(name string) bool
	List(f Filter) []Account
	GroupsOf(jid string) []string
	GroupPeers(name string) []string
	PeersOf(a Account) []string
	Peers(a, b string) bool
	SharedGroups(a, b string) []string
	GroupExists(g string) bool
	Online(name string) bool
	Generation() uint64
	Watch(fn func(Change))
	WatchOnline(fn func(name string, online bool))
}

// Accounts is the account system as the hub, the dashboard, the MQTT
// bridge and the operations service use it: the directory, logins, online
// state and changes. *Store is its implementation on BuntDB.
type Accounts interface {
	Directory
	Credential(name string) (scram.Credential, bool)
	Authenticate(name, password string) bool
	Iterations() int
	SetOnline(name string, online bool)
	Add(reqs ...NewAccount) ([]Created, error)
	Update(name string, fn func(*Account) error) (Account, error)
	Remove(name string) error
	SetPassword(name, password string) (string, error)
	WatchPasswords(fn func(name string))
	CredentialID(name string) (string, bool)
	Resolve(names []string, ok func(Role) bool) ([]string, error)
	ResolveDevices(names []string) ([]string, error)
	ResolveWatchers(names []string) ([]string, error)
	HubName() string
	CheckHubName(name string) (string, error)
	SetHubName(name string) (string, error)
}

var _ Accounts = (*Store)(nil)
