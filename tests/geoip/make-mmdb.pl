#!/usr/bin/perl
# make-mmdb.pl: writes the small MaxMind DB the GeoIP tests read, mapping the
# documentation ranges (RFC 5737, RFC 3849) to known places, with what a
# real City database also holds (coordinates, postal code, ASN, other
# languages) so the tests can show that none of it is stored.
#
#   make-mmdb.pl OUT.mmdb [first|second]
#
# "second" moves 192.0.2.0/24 to Italy (Rome): the reload test's update.
# Needs Debian's libmaxmind-db-writer-perl.
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my ($out, $variant) = @ARGV;
die "usage: make-mmdb.pl OUT.mmdb [first|second]\n" unless defined $out;
$variant //= 'first';

my %types = (
	city => 'map', country => 'map', location => 'map', postal => 'map',
	names => 'map', en => 'utf8_string', de => 'utf8_string', fr => 'utf8_string',
	'pt-BR' => 'utf8_string', iso_code => 'utf8_string', code => 'utf8_string',
	geoname_id => 'uint32', latitude => 'double', longitude => 'double',
	accuracy_radius => 'uint16', time_zone => 'utf8_string',
	autonomous_system_number => 'uint32', autonomous_system_organization => 'utf8_string',
);

sub place {
	my (%p) = @_;
	my %rec = (
		country => { iso_code => $p{cc}, geoname_id => $p{cid},
			     names => { en => $p{cname}, fr => "$p{cname} (fr)" } },
		location => { latitude => $p{lat}, longitude => $p{lon}, accuracy_radius => 5,
			      time_zone => $p{tz} },
		autonomous_system_number => $p{asn},
		autonomous_system_organization => "GeoTest Carrier $p{asn}",
	);
	if (defined $p{city}) {
		$rec{city} = { geoname_id => $p{gid}, names => $p{city} };
		$rec{postal} = { code => $p{postal} };
	}
	return \%rec;
}

my $tree = MaxMind::DB::Writer::Tree->new(
	ip_version => 6,
	record_size => 28,
	database_type => 'mailbeacon-Test-City',
	languages => ['en'],
	description => { en => 'mailbeacon test database (documentation ranges only)' },
	map_key_type_callback => sub { $types{ $_[0] } },
	# The documentation ranges are reserved: keep them.
	remove_reserved_networks => 0,
	alias_ipv6_to_ipv4 => 1,
);
if ($variant eq 'second') {
	$tree->insert_network('192.0.2.0/24', place(cc => 'IT', cid => 3175395, cname => 'Italy',
		city => { en => 'Rome', fr => 'Rome (fr)' }, gid => 3169070, postal => '00184',
		lat => 41.8919, lon => 12.5113, tz => 'Europe/Rome', asn => 64501));
} else {
	$tree->insert_network('192.0.2.0/24', place(cc => 'FR', cid => 3017382, cname => 'France',
		city => { en => 'Lyon', fr => 'Lyon (fr)' }, gid => 2996944, postal => '69007',
		lat => 45.7485, lon => 4.8467, tz => 'Europe/Paris', asn => 64500));
}
$tree->insert_network('198.51.100.0/24', place(cc => 'DE', cid => 2921044, cname => 'Germany',
	city => { en => 'Cologne', de => "K\x{f6}ln" }, gid => 2886242, postal => '50667',
	lat => 50.9333, lon => 6.95, tz => 'Europe/Berlin', asn => 64502));
$tree->insert_network('2001:db8::/32', place(cc => 'BR', cid => 3469034, cname => 'Brazil',
	city => { en => "S\x{e3}o Paulo", 'pt-BR' => "S\x{e3}o Paulo (pt)" }, gid => 3448439,
	postal => '01310-100', lat => -23.5475, lon => -46.6361, tz => 'America/Sao_Paulo',
	asn => 64503));
# A country without a city.
$tree->insert_network('203.0.113.0/24', place(cc => 'NZ', cid => 2186224, cname => 'New Zealand',
	lat => -41.0, lon => 174.0, tz => 'Pacific/Auckland', asn => 64504));

open(my $fh, '>:raw', $out) or die "$out: $!\n";
$tree->write_tree($fh);
close($fh) or die "$out: $!\n";
