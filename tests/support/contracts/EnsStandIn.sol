// SPDX-License-Identifier: MIT
// Stand-ins for the ENS registry and a public resolver: only the two reads a wallet makes to
// turn a name into an address (resolver(bytes32) on the registry, addr(bytes32) on the
// resolver), with setters for the test. Written for this project's tests.
pragma solidity ^0.8.20;

contract EnsRegistryStandIn {
    mapping(bytes32 => address) private resolvers;

    function setResolver(bytes32 node, address resolverAddress) external {
        resolvers[node] = resolverAddress;
    }

    function resolver(bytes32 node) external view returns (address) {
        return resolvers[node];
    }
}

contract EnsResolverStandIn {
    mapping(bytes32 => address) private addrs;

    function setAddr(bytes32 node, address target) external {
        addrs[node] = target;
    }

    function addr(bytes32 node) external view returns (address) {
        return addrs[node];
    }
}
