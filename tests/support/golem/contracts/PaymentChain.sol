// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

// The contracts yagna 0.17.6's erc20 driver calls on its payment chain, written for this project's
// tests from their published ABIs (the JSON embedded in the yagna binary): the token (GLM's role),
// the multi-transfer contract (allowance target, batch payments) and the wrapper contract (balance
// and call details). The test chain (anvil) gets their runtime code at the addresses of yagna's
// [chain.hoodi] config, so the driver runs unchanged.

interface IERC20Like {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// A plain ERC-20 in GLM's role ("tGLM", 18 decimals); only the deployer may mint.
contract TestGLM is IERC20Like {
    string public constant name = "Test Golem Network Token";
    string public constant symbol = "tGLM";
    uint8 public constant decimals = 18;
    address public immutable minter;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor() {
        minter = msg.sender;
    }

    function mint(address to, uint256 value) external {
        require(msg.sender == minter, "tGLM: only the minter mints");
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= value, "tGLM: allowance too small");
            allowance[from][msg.sender] = allowed - value;
        }
        _move(from, to, value);
        return true;
    }

    function _move(address from, address to, uint256 value) private {
        require(to != address(0), "tGLM: transfer to the zero address");
        require(balanceOf[from] >= value, "tGLM: balance too small");
        balanceOf[from] -= value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}

/// Batch payments in the token: "direct" moves each amount payer -> recipient, "indirect" moves the
/// sum to this contract first. A packed payment is one word: recipient in the high 20 bytes, amount
/// in the low 12.
contract MultiTransfer {
    IERC20Like public immutable GLM;

    constructor(IERC20Like glm) {
        GLM = glm;
    }

    function golemTransferDirect(address[] calldata recipients, uint256[] calldata amounts) external {
        require(recipients.length == amounts.length, "multi: lengths differ");
        for (uint256 i = 0; i < recipients.length; ++i) {
            require(GLM.transferFrom(msg.sender, recipients[i], amounts[i]), "multi: transfer failed");
        }
    }

    function golemTransferDirectPacked(bytes32[] calldata payments) external {
        for (uint256 i = 0; i < payments.length; ++i) {
            (address to, uint256 amount) = _unpack(payments[i]);
            require(GLM.transferFrom(msg.sender, to, amount), "multi: transfer failed");
        }
    }

    function golemTransferIndirect(address[] calldata recipients, uint256[] calldata amounts) external {
        require(recipients.length == amounts.length, "multi: lengths differ");
        uint256 total = 0;
        for (uint256 i = 0; i < amounts.length; ++i) {
            total += amounts[i];
        }
        require(GLM.transferFrom(msg.sender, address(this), total), "multi: transfer failed");
        for (uint256 i = 0; i < recipients.length; ++i) {
            require(GLM.transfer(recipients[i], amounts[i]), "multi: transfer failed");
        }
    }

    function golemTransferIndirectPacked(bytes32[] calldata payments, uint256 totalTransferred) external {
        require(GLM.transferFrom(msg.sender, address(this), totalTransferred), "multi: transfer failed");
        uint256 paid = 0;
        for (uint256 i = 0; i < payments.length; ++i) {
            (address to, uint256 amount) = _unpack(payments[i]);
            paid += amount;
            require(GLM.transfer(to, amount), "multi: transfer failed");
        }
        require(paid == totalTransferred, "multi: total differs from the payments");
    }

    function _unpack(bytes32 payment) private pure returns (address to, uint256 amount) {
        to = address(bytes20(payment));
        amount = uint256(payment) & ((uint256(1) << 96) - 1);
    }
}

/// Calls another contract and returns the result with the chain's details, in one round trip.
contract WrapperCall {
    struct CallWithDetailsResult {
        uint256 chainId;
        uint256 blockNumber;
        uint256 blockTimestamp;
        uint256 callerBalance;
        bytes callResult;
    }

    struct MultiCallWithDetailsResult {
        uint256 chainId;
        uint256 blockNumber;
        uint256 blockTimestamp;
        uint256 callerBalance;
        bytes[] callResults;
    }

    function callWithDetails(address externalContractAddress, bytes calldata callData)
        external
        returns (CallWithDetailsResult memory result)
    {
        result.chainId = block.chainid;
        result.blockNumber = block.number;
        result.blockTimestamp = block.timestamp;
        result.callerBalance = msg.sender.balance;
        result.callResult = _call(externalContractAddress, callData);
    }

    function multiCall(address[] calldata externalContractAddresses, bytes[] calldata callDataArray)
        external
    {
        require(externalContractAddresses.length == callDataArray.length, "wrapper: lengths differ");
        for (uint256 i = 0; i < callDataArray.length; ++i) {
            _call(externalContractAddresses[i], callDataArray[i]);
        }
    }

    function multiCallWithDetails(
        address[] calldata externalContractAddresses,
        bytes[] calldata callDataArray
    ) external returns (MultiCallWithDetailsResult memory result) {
        require(externalContractAddresses.length == callDataArray.length, "wrapper: lengths differ");
        result.chainId = block.chainid;
        result.blockNumber = block.number;
        result.blockTimestamp = block.timestamp;
        result.callerBalance = msg.sender.balance;
        result.callResults = new bytes[](callDataArray.length);
        for (uint256 i = 0; i < callDataArray.length; ++i) {
            result.callResults[i] = _call(externalContractAddresses[i], callDataArray[i]);
        }
    }

    function _call(address target, bytes calldata callData) private returns (bytes memory) {
        (bool ok, bytes memory out) = target.call(callData);
        if (!ok) {
            assembly {
                revert(add(out, 32), mload(out))
            }
        }
        return out;
    }
}
